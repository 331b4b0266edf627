/* Rule groups: runs of rules that compare one key with constants, as one
 * map lookup (ir.h, struct ir_group; regroup.c). Runs after lowering. */
#ifndef XDPL_REGROUP_H
#define XDPL_REGROUP_H

#include "arena.h"
#include "ir.h"

/* Fills ir->groups and adds their maps to ir->maps. */
void ir_regroup(struct arena *a, struct ir_program *ir, bool classify);

#endif
