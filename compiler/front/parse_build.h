/* The parser's node builders (parse_build.c), called from the grammar
 * actions of parser.y: each makes one AST node with its source span and
 * checks what the grammar alone cannot (duplicate rule items, hex strings,
 * type names, rate and duration units). Private to compiler/front. */
#ifndef XDPL_PARSE_BUILD_H
#define XDPL_PARSE_BUILD_H

#include "parser.h"

/* Errors found by the grammar actions count like syntax errors. */
#define PARSE_ERROR(ctx, loc, ...)                       \
	do {                                             \
		(ctx)->lex->nerrors++;                   \
		diag_error((loc), __VA_ARGS__);          \
	} while (0)

struct xdpl_loc parse_span(struct xdpl_loc first, struct xdpl_loc last);
struct ast_expr *parse_expr(struct parse_ctx *ctx, enum expr_kind kind,
				   struct xdpl_loc loc);
struct ast_expr *parse_binary(struct parse_ctx *ctx, enum binop op,
				     struct ast_expr *lhs, struct ast_expr *rhs,
				     struct xdpl_loc loc);
struct ast_expr *parse_name(struct parse_ctx *ctx, const char *name,
				   struct xdpl_loc loc);
struct ast_expr *parse_int(struct parse_ctx *ctx, uint64_t v, struct xdpl_loc loc);
struct ast_expr *parse_lit(struct parse_ctx *ctx, struct xdpl_lit lit,
				  struct xdpl_loc loc);
struct ast_expr *parse_list_expr(struct parse_ctx *ctx, enum expr_kind kind,
					const char *name, struct ptrvec *args,
					struct xdpl_loc loc);
struct xdpl_lit parse_concat(struct parse_ctx *ctx, struct xdpl_lit a,
				    struct xdpl_lit b);
struct xdpl_lit parse_hex(struct parse_ctx *ctx, struct xdpl_lit s, struct xdpl_loc loc);
struct xdpl_type parse_type_name(struct parse_ctx *ctx, const char *name,
					struct xdpl_loc loc);
struct ast_decl *parse_decl(struct parse_ctx *ctx, enum decl_kind kind,
				   struct xdpl_loc loc);
struct ast_decl *parse_header(struct parse_ctx *ctx, const char *name,
				     struct xdpl_loc name_loc, bool is_meta, struct ptrvec *fields,
				     struct xdpl_loc loc);
struct ast_field *parse_field(struct parse_ctx *ctx, const char *name,
				     struct xdpl_loc loc);
struct ast_decl *parse_set(struct parse_ctx *ctx, bool is_map, const char *name,
				  struct xdpl_loc name_loc, struct parse_kind *kind,
				  uint64_t max, struct xdpl_loc max_loc, struct ast_expr *init,
				  struct xdpl_loc loc);
struct ast_decl *parse_rule(struct parse_ctx *ctx, const char *name,
				   struct xdpl_loc name_loc, struct ptrvec *items,
				   struct xdpl_loc loc);
struct ast_decl *parse_test(struct parse_ctx *ctx, struct xdpl_lit name,
				   struct xdpl_loc name_loc, struct ptrvec *items,
				   struct xdpl_loc loc);
struct parse_item *parse_item(struct parse_ctx *ctx, enum parse_item_kind kind,
				     struct xdpl_loc loc);
struct ast_pstmt *parse_pstmt(struct parse_ctx *ctx, enum pstmt_kind kind,
				     struct xdpl_loc loc);
struct ast_stmt *parse_stmt(struct parse_ctx *ctx, enum stmt_kind kind,
				   struct xdpl_loc loc);
struct ast_stmt *parse_assign(struct parse_ctx *ctx, enum binop op,
				     struct ast_expr *lhs, struct ast_expr *rhs,
				     struct xdpl_loc loc);
struct ast_target parse_target(const char *state, bool accept, bool reject,
				      struct xdpl_loc loc);
struct ast_verdict parse_verdict(enum verdict_kind kind, struct xdpl_loc loc);
struct ast_verdict parse_verdict_word(struct parse_ctx *ctx, const char *word, struct xdpl_loc loc);
void parse_check_verdict(struct parse_ctx *ctx, const struct ast_verdict *v);
struct ast_layer *parse_layer(struct parse_ctx *ctx, enum layer_kind kind,
				     struct xdpl_loc loc);
struct ast_layer *parse_bytes_layer(struct parse_ctx *ctx, enum layer_kind kind,
					   struct xdpl_lit bytes, struct xdpl_loc loc);
struct xdpl_lit parse_rate_words(struct parse_ctx *ctx, uint64_t n, const char *unit,
					struct xdpl_loc loc, bool per);
struct xdpl_lit parse_duration_words(struct parse_ctx *ctx, uint64_t n,
					    const char *unit, struct xdpl_loc loc);
struct ptrvec parse_vec1(struct parse_ctx *ctx, void *item);
struct ptrvec parse_vec_add(struct parse_ctx *ctx, struct ptrvec v, void *item);

#endif
