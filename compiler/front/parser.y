/* XDPL parser: tokens from lexer.l → struct ast_file (ast.h).
 *
 * Grammar of reference §3-§14, one production per construct with its EBNF in
 * the comment above it. Every node gets the source span of its text so
 * later stages can point carets at it.
 *
 * Error recovery, so one run reports several mistakes:
 *   - `semi` (';' or error) ends every statement: a missing ';' is reported
 *     once and parsing goes on with the next statement as if it were there;
 *   - every statement list has `error ';'`: a bad statement is skipped up
 *     to its ';';
 *   - every block ends with `block_end` ('}' or error '}'): a bad statement
 *     that runs into the block's '}' still closes the block;
 *   - the top level has `error ';'` and `error '}'`.
 * Syntax errors are worded by yyreport_syntax_error() below (missing ';',
 * missing '}', keyword used as a name, '=' for '=='); after 50 errors in a
 * file the lexer ends it early.
 *
 * Conflicts: none (%expect 0). Expression precedence is declared below;
 * everything else is LALR(1) without help. */

%code top {
/* Generated from compiler/front/parser.y by bison; edit the .y file instead. */
}

%code requires {
#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "ast.h"
#include "diag.h"

#ifndef YY_TYPEDEF_YY_SCANNER_T
#define YY_TYPEDEF_YY_SCANNER_T
typedef void *yyscan_t;
#endif

/* Scanner state (flex's yyextra), shared with the parser for messages. */
struct lex_state {
	struct arena *a;
	int file;
	int line, col;                  /* position of the next character */
	struct xdpl_loc comment_start;  /* for "unterminated comment" */
	struct xdpl_loc prev, cur;      /* the last two tokens returned */
	char prev_text[40], text[40];   /* and their spelling, shortened */
	struct xdpl_loc bad_number;     /* last number the lexer rejected */
	long ntokens;                   /* tokens returned so far */
	long semi_missing_at;           /* ntokens when "missing ';'" was said */
	long lex_error_at;              /* the token during which a lexical error was */
	int nerrors;                    /* lexical + syntax errors so far */
	int gave_up;                    /* the error limit was reached */
};

/* Parser state for the actions. */
struct parse_ctx {
	struct arena *a;
	int file;
	struct lex_state *lex;
	struct ptrvec decls;            /* struct ast_decl *, in source order */
};

/* A type as written, with its place (set key types, field types). */
struct parse_type {
	struct xdpl_type type;
	struct xdpl_loc loc;
};

/* set/map kind as written: hash<...>, lpm<...>, array<...>, devmap... */
struct parse_kind {
	const char *name;
	struct xdpl_loc loc;
	struct ptrvec types;            /* struct parse_type * */
	bool has_types;
};

/* One item of a rule body or a test body, merged by parse_rule/parse_test
 * (which report duplicates: the AST holds one of each). */
enum parse_item_kind {
	PI_MATCH, PI_LIMIT, PI_REWRITE, PI_VERDICT,   /* rule */
	PI_PACKET, PI_EXPECT, PI_OUTPUT,              /* test */
};

struct parse_item {
	enum parse_item_kind kind;
	struct xdpl_loc loc;
	struct ast_expr *expr;
	struct ast_limit *limit;
	struct ptrvec list;             /* rewrite stmts, or layers */
	struct ast_verdict verdict;
	const char *by;
	struct xdpl_loc by_loc;
};

/* Like bison's default, and carries the file id along. */
#define YYLLOC_DEFAULT(Cur, Rhs, N)                                        \
	do {                                                               \
		if (N) {                                                   \
			(Cur).first_line = YYRHSLOC(Rhs, 1).first_line;    \
			(Cur).first_column = YYRHSLOC(Rhs, 1).first_column; \
			(Cur).last_line = YYRHSLOC(Rhs, N).last_line;      \
			(Cur).last_column = YYRHSLOC(Rhs, N).last_column;  \
			(Cur).file = YYRHSLOC(Rhs, 1).file;                \
		} else {                                                   \
			(Cur).first_line = (Cur).last_line =               \
				YYRHSLOC(Rhs, 0).last_line;                \
			(Cur).first_column = (Cur).last_column =           \
				YYRHSLOC(Rhs, 0).last_column;              \
			(Cur).file = YYRHSLOC(Rhs, 0).file;                \
		}                                                          \
	} while (0)
}

%require "3.6"  /* parse.error custom */
%define api.pure full
%define api.location.type {struct xdpl_loc}
%define api.token.prefix {TOK_}
%define parse.error custom
%locations
%lex-param {yyscan_t scanner}
%parse-param {yyscan_t scanner} {struct parse_ctx *ctx}
%expect 0

%initial-action {
	@$ = (struct xdpl_loc){ 1, 1, 1, 1, ctx->file };
}

%union {
	uint64_t num;
	const char *str;
	struct xdpl_lit lit;
	bool b;
	struct ptrvec vec;
	struct ast_expr *expr;
	struct ast_decl *decl;
	struct ast_field *field;
	struct ast_flag *flag;
	struct ast_state *state;
	struct ast_pstmt *pstmt;
	struct ast_arm *arm;
	struct ast_target target;
	struct ast_verdict verdict;
	struct ast_stmt *stmt;
	struct ast_layer *layer;
	struct ast_layer_arg *larg;
	struct ast_limit *limit;
	struct parse_item *item;
	struct parse_type *type;
	struct parse_kind *kind;
}

%code {
#include <stdlib.h>
#include <string.h>

#include "parse_build.h"

/* The flex scanner (lexer.l). Declared here rather than by including the
 * generated lexer.h so parser.c never waits on the scanner's outputs. */
int yylex(YYSTYPE *lval, YYLTYPE *lloc, yyscan_t scanner);
int yylex_init_extra(struct lex_state *extra, yyscan_t *scanner);
int yylex_destroy(yyscan_t scanner);
struct yy_buffer_state *yy_scan_string(const char *text, yyscan_t scanner);
void yy_delete_buffer(struct yy_buffer_state *buf, yyscan_t scanner);

static void yyerror(YYLTYPE *loc, yyscan_t scanner, struct parse_ctx *ctx, const char *msg);


}

/* ---------------------------------------------------------------- tokens */

%token END 0 "end of file"
%token <str> IDENT "identifier"
%token <str> NAME "dotted name"
%token <num> INT "integer"
%token <lit> LITERAL "address literal"
%token <lit> STRING "string"
%token <lit> RATE "rate"
%token <lit> DURATION "duration"

/* Keywords carry their spelling so `field_name` can accept them. */
%token <str> ABORT "'abort'" ACCEPT "'accept'" ADD "'add'" ALIAS "'alias'"
%token <str> AND "'and'" BITS "'bits'" BURST "'burst'" BY "'by'" BYTES "'bytes'"
%token <str> CONST "'const'" CONTINUE "'continue'" CPU "'cpu'" DECAP "'decap'"
%token <str> DEFAULT "'default'" DEL "'del'" DROP "'drop'" ENCAP "'encap'"
%token <str> EXPECT "'expect'" EXTRACT "'extract'" FALSE "'false'" HASH "'hash'"
%token <str> HEADER "'header'" HEX "'hex'" IFINDEX "'ifindex'" IMPORT "'import'"
%token <str> IN "'in'" LIMIT "'limit'" LOOP "'loop'" MAP "'map'" MATCH "'match'"
%token <str> MAX "'max'" META "'meta'" NEXT "'next'" NOT "'not'" OR "'or'"
%token <str> OUTPUT "'output'" OVER "'over'" PACKET "'packet'" PARSER "'parser'"
%token <str> PASS "'pass'" PAYLOAD "'payload'" PER "'per'" POP "'pop'"
%token <str> PROGRAM "'program'" PUSH "'push'" RAW "'raw'" REDIRECT "'redirect'"
%token <str> REJECT "'reject'" REWRITE "'rewrite'" ROUTE "'route'" RULE "'rule'"
%token <str> SELECT "'select'" SET "'set'" STATE "'state'" SWAP "'swap'"
%token <str> TEST "'test'" TIMEOUT "'timeout'" TRUE "'true'" TX "'tx'"
%token <str> VERDICT "'verdict'"

%token ARROW "'->'" DOTDOT "'..'" EQ "'=='" NE "'!='" LE "'<='" GE "'>='"
%token SHL "'<<'" SHR "'>>'" PLUSEQ "'+='" MINUSEQ "'-='" UNDERSCORE "'_'"

/* Reference §7, lowest first. Arithmetic and bitwise operators bind tighter
 * than comparisons (unlike C). Comparisons and `in` do not chain. `..`
 * sits between them so `x in 1024..65535` is x in (1024..65535) and
 * `lo + 1 .. hi` ranges over sums. */
%left OR
%left AND
%precedence NOT
%nonassoc EQ NE '<' LE '>' GE IN
%nonassoc DOTDOT
%left '|'
%left '^'
%left '&'
%left SHL SHR
%left '+' '-'
%left '*' '%'

%type <decl> item
%type <str> name field_name
%type <vec> fields flag_list alias_alts states pstmts arms rule_items stmts test_items
%type <vec> exprs call_args layers layer_args type_list
%type <field> field
%type <flag> flag
%type <vec> opt_bits
%type <expr> opt_default expr primary call_arg set_lit opt_set_init opt_burst lvalue
%type <vec> opt_per
%type <type> type
%type <kind> set_kind map_kind
%type <num> opt_max opt_loop
%type <state> state
%type <pstmt> pstmt
%type <arm> arm
%type <target> target
%type <item> rule_item test_item
%type <b> opt_over semi
%type <lit> rate duration opt_timeout strings hex_lit
%type <verdict> verdict
%type <stmt> stmt
%type <layer> layer
%type <larg> layer_arg
%type <str> opt_by

%%

/* file := item* */
file
	: %empty
	| file item   { if ($2) ptrvec_push(ctx->a, &ctx->decls, $2); }
	;

/* ';' that ends a statement. When only the ';' is missing, the error is
 * reported as such and the statement counts (value true); parsing goes on
 * as if the ';' had been there, reporting the next error as usual.
 * When the statement itself is broken (`match a == == 1;`) its text up to
 * the error was taken as a shorter statement (`match a`): statements that
 * end in an expression drop themselves then (value false), so later stages
 * do not report follow-on errors about half an expression. */
semi
	: ';'     { $$ = true; }
	| error {
		$$ = ctx->lex->semi_missing_at == ctx->lex->ntokens;
		if ($$)
			yyerrok;
		else if (yychar == ';')
			yyclearin; /* `match a == ;`: this ';' ends the broken statement */
	}
	;

/* '}' that ends a block; a broken last statement still closes it. */
block_end
	: '}'
	| error '}'
	;

/* A plain or dotted name: tcp, ip.src, tcp.flags.syn. */
name
	: IDENT
	| NAME
	;

/* A field name may be any word, keywords included: `next: u8` in ip6,
 * ip6(next=6) in a test layer. */
field_name
	: IDENT | ABORT | ACCEPT | ADD | ALIAS | AND | BITS | BURST | BY | BYTES | CONST
	| CONTINUE | CPU | DECAP | DEFAULT | DEL | DROP | ENCAP | EXPECT | EXTRACT | FALSE
	| HASH | HEADER | HEX | IFINDEX | IMPORT | IN | LIMIT | LOOP | MAP | MATCH | MAX
	| META | NEXT | NOT | OR | OUTPUT | OVER | PACKET | PARSER | PASS | PAYLOAD | PER
	| POP | PROGRAM | PUSH | RAW | REDIRECT | REJECT | REWRITE | ROUTE | RULE | SELECT
	| SET | STATE | SWAP | TEST | TIMEOUT | TRUE | TX | VERDICT
	;

/* ---------------------------------------------------------------- top level */

item
	/* 'program' IDENT ';' */
	: PROGRAM IDENT semi {
		$$ = parse_decl(ctx, D_PROGRAM, parse_span(@1, @2));
		$$->program = $2;
	}
	/* 'import' STRING ';' */
	| IMPORT STRING semi {
		$$ = parse_decl(ctx, D_IMPORT, parse_span(@1, @2));
		$$->import = NEW(ctx->a, struct ast_import);
		$$->import->path = $2.str;
		$$->import->loc = @2;
		if (memchr($2.str, 0, (size_t)$2.len))
			PARSE_ERROR(ctx, @2, "import path contains a NUL byte");
	}
	/* 'const' IDENT '=' expr ';' */
	| CONST IDENT '=' expr semi {
		/* dropped when broken, see semi */
		$$ = NULL;
		if ($5) {
			$$ = parse_decl(ctx, D_CONST, parse_span(@1, @4));
			$$->konst = NEW(ctx->a, struct ast_const);
			$$->konst->name = $2;
			$$->konst->loc = @2;
			$$->konst->value = $4;
		}
	}
	/* 'const' IDENT '=' (RATE | DURATION) ';'   for `limit NAME`, `timeout NAME` */
	| CONST IDENT '=' RATE semi {
		$$ = parse_decl(ctx, D_CONST, parse_span(@1, @4));
		$$->konst = NEW(ctx->a, struct ast_const);
		$$->konst->name = $2;
		$$->konst->loc = @2;
		$$->konst->value = parse_lit(ctx, $4, @4);
	}
	| CONST IDENT '=' DURATION semi {
		$$ = parse_decl(ctx, D_CONST, parse_span(@1, @4));
		$$->konst = NEW(ctx->a, struct ast_const);
		$$->konst->name = $2;
		$$->konst->loc = @2;
		$$->konst->value = parse_lit(ctx, $4, @4);
	}
	/* 'header' IDENT '{' field* '}' */
	| HEADER IDENT '{' fields block_end {
		$$ = parse_header(ctx, $2, @2, false, &$4, @$);
	}
	/* 'header' IDENT '=' IDENT ';'   (a second instance of IDENT's layout) */
	| HEADER IDENT '=' IDENT semi {
		$$ = parse_header(ctx, $2, @2, false, NULL, parse_span(@1, @4));
		$$->header->layout_of = $4;
	}
	/* 'meta' IDENT '{' field* '}' */
	| META IDENT '{' fields block_end {
		$$ = parse_header(ctx, $2, @2, true, &$4, @$);
	}
	/* 'alias' NAME '=' NAME ('|' NAME)* ';' */
	| ALIAS name '=' alias_alts semi {
		$$ = parse_decl(ctx, D_ALIAS, parse_span(@1, @4));
		$$->alias = NEW(ctx->a, struct ast_alias);
		$$->alias->name = $2;
		$$->alias->loc = @2;
		$$->alias->alts = (struct ast_expr **)$4.items;
		$$->alias->nalts = $4.len;
	}
	/* 'parser' '{' state* '}' */
	| PARSER '{' states block_end {
		$$ = parse_decl(ctx, D_PARSER, @$);
		$$->states = (struct ast_state **)$3.items;
		$$->nstates = $3.len;
	}
	/* 'set' IDENT ':' set_kind ['max' INT] ['=' set_lit] ';' */
	| SET IDENT ':' set_kind opt_max opt_set_init semi {
		$$ = parse_set(ctx, false, $2, @2, $4, $5, @5, $6, parse_span(@1, @6));
	}
	/* 'map' IDENT ':' map_kind ['max' INT] ';' */
	| MAP IDENT ':' map_kind opt_max semi {
		$$ = parse_set(ctx, true, $2, @2, $4, $5, @5, NULL, parse_span(@1, @5));
	}
	/* 'rule' IDENT '{' rule_item* '}' */
	| RULE IDENT '{' rule_items block_end {
		$$ = parse_rule(ctx, $2, @2, &$4, @$);
	}
	/* 'default' verdict ';' */
	| DEFAULT verdict semi {
		$$ = parse_decl(ctx, D_DEFAULT, parse_span(@1, @2));
		$$->deflt = $2;
		parse_check_verdict(ctx, &$2);
	}
	/* 'test' STRING '{' test_item* '}' */
	| TEST STRING '{' test_items block_end {
		$$ = parse_test(ctx, $2, @2, &$4, @$);
	}
	| error ';'   { $$ = NULL; }
	| error '}'   { $$ = NULL; }
	;

/* alias_alts := NAME ('|' NAME)* */
alias_alts
	: name                  { $$ = parse_vec1(ctx, parse_name(ctx, $1, @1)); }
	| alias_alts '|' name   { $$ = parse_vec_add(ctx, $1, parse_name(ctx, $3, @3)); }
	;

/* ---------------------------------------------------------------- headers */

/* fields := field* */
fields
	: %empty         { $$ = (struct ptrvec){ 0 }; }
	| fields field   { $$ = $2 ? parse_vec_add(ctx, $1, $2) : $1; }
	;

field
	/* field_name ':' type ['bits' '{' flag (',' flag)* [','] '}'] ['=' expr] ';' */
	: field_name ':' type opt_bits opt_default semi {
		$$ = parse_field(ctx, $1, @1);
		$$->type = $3->type;
		$$->flags = (struct ast_flag **)$4.items;
		$$->nflags = $4.len;
		$$->deflt = $6 ? $5 : NULL;  /* a broken default is dropped, see semi */
	}
	/* field_name ':' 'bytes' '(' expr ')' 'max' INT ';' */
	| field_name ':' BYTES '(' expr ')' MAX INT semi {
		$$ = parse_field(ctx, $1, @1);
		$$->type = (struct xdpl_type){ TY_BYTES, 0 };
		$$->size = $5;
		if ($8 > 65535) {
			PARSE_ERROR(ctx, @8, "maximum size %llu of a variable part is too large "
				    "(at most 65535 bytes)", (unsigned long long)$8);
			$$->max_bytes = 65535;
		} else {
			$$->max_bytes = (int)$8;
		}
	}
	| error ';'   { $$ = NULL; }
	;

/* type := IDENT   (u1..u64, bool, mac, ip4, ip6) */
type
	: IDENT {
		$$ = NEW(ctx->a, struct parse_type);
		$$->type = parse_type_name(ctx, $1, @1);
		$$->loc = @1;
	}
	;

opt_bits
	: %empty                                 { $$ = (struct ptrvec){ 0 }; }
	| BITS '{' flag_list opt_comma '}'       { $$ = $3; }
	;

flag_list
	: flag                 { $$ = parse_vec1(ctx, $1); }
	| flag_list ',' flag   { $$ = parse_vec_add(ctx, $1, $3); }
	;

/* flag := field_name '=' INT */
flag
	: field_name '=' INT {
		$$ = NEW(ctx->a, struct ast_flag);
		$$->name = $1;
		$$->mask = $3;
		$$->loc = @1;
	}
	;

opt_comma
	: %empty
	| ','
	;

/* default := expr   (a literal, a const, or total_len(), checksum(pseudo)...) */
opt_default
	: %empty     { $$ = NULL; }
	| '=' expr   { $$ = $2; }
	;

/* ---------------------------------------------------------------- parser */

/* states := state* */
states
	: %empty         { $$ = (struct ptrvec){ 0 }; }
	| states state   { $$ = $2 ? parse_vec_add(ctx, $1, $2) : $1; }
	;

/* state := 'state' IDENT ['loop' INT] '{' pstmt* '}' */
state
	: STATE IDENT opt_loop '{' pstmts block_end {
		$$ = NEW(ctx->a, struct ast_state);
		$$->name = $2;
		$$->loc = @2;
		$$->loop = (int)$3;
		$$->stmts = (struct ast_pstmt **)$5.items;
		$$->nstmts = $5.len;
	}
	| error ';'   { $$ = NULL; }
	;

opt_loop
	: %empty     { $$ = 0; }
	| LOOP INT {
		$$ = $2;
		if ($2 < 1 || $2 > 1024) {
			PARSE_ERROR(ctx, @2, "loop bound must be between 1 and 1024");
			$$ = 1;
		}
	}
	;

pstmts
	: %empty          { $$ = (struct ptrvec){ 0 }; }
	| pstmts pstmt    { $$ = $2 ? parse_vec_add(ctx, $1, $2) : $1; }
	;

pstmt
	/* 'extract' IDENT ';' */
	: EXTRACT IDENT semi {
		$$ = parse_pstmt(ctx, PS_EXTRACT, parse_span(@1, @2));
		$$->header = $2;
	}
	/* 'set' NAME '=' expr ';' */
	| SET name '=' expr semi {
		/* dropped when broken, see semi */
		$$ = NULL;
		if ($5) {
			$$ = parse_pstmt(ctx, PS_SET, parse_span(@1, @4));
			$$->lhs = parse_name(ctx, $2, @2);
			$$->expr = $4;
		}
	}
	/* 'next' target ';' */
	| NEXT target semi {
		$$ = parse_pstmt(ctx, PS_NEXT, parse_span(@1, @2));
		$$->target = $2;
	}
	/* 'accept' ';' */
	| ACCEPT semi {
		$$ = parse_pstmt(ctx, PS_NEXT, @1);
		$$->target = parse_target(NULL, true, false, @1);
	}
	/* 'reject' ';' */
	| REJECT semi {
		$$ = parse_pstmt(ctx, PS_NEXT, @1);
		$$->target = parse_target(NULL, false, true, @1);
	}
	/* 'select' expr '{' arm* '}' */
	| SELECT expr '{' arms block_end {
		$$ = parse_pstmt(ctx, PS_SELECT, @$);
		$$->expr = $2;
		$$->arms = (struct ast_arm **)$4.items;
		$$->narms = $4.len;
	}
	| error ';'   { $$ = NULL; }
	;

arms
	: %empty      { $$ = (struct ptrvec){ 0 }; }
	| arms arm    { $$ = $2 ? parse_vec_add(ctx, $1, $2) : $1; }
	;

arm
	/* elem (',' elem)* '->' target ';' */
	: exprs ARROW target semi {
		$$ = NEW(ctx->a, struct ast_arm);
		$$->values = (struct ast_expr **)$1.items;
		$$->nvalues = $1.len;
		$$->target = $3;
		$$->loc = parse_span(@1, @3);
	}
	/* '_' '->' target ';' */
	| UNDERSCORE ARROW target semi {
		$$ = NEW(ctx->a, struct ast_arm);
		$$->is_default = true;
		$$->target = $3;
		$$->loc = parse_span(@1, @3);
	}
	| error ';'   { $$ = NULL; }
	;

/* target := IDENT | 'accept' | 'reject' */
target
	: IDENT    { $$ = parse_target($1, false, false, @1); }
	| ACCEPT   { $$ = parse_target(NULL, true, false, @1); }
	| REJECT   { $$ = parse_target(NULL, false, true, @1); }
	;

/* ---------------------------------------------------------------- sets, maps */

/* set_kind := 'hash' '<' type (',' type)* '>' | 'lpm' '<' type '>' */
set_kind
	: HASH '<' type_list '>' {
		$$ = NEW(ctx->a, struct parse_kind);
		$$->name = "hash";
		$$->loc = @1;
		$$->types = $3;
		$$->has_types = true;
	}
	| IDENT '<' type_list '>' {
		$$ = NEW(ctx->a, struct parse_kind);
		$$->name = $1;
		$$->loc = @1;
		$$->types = $3;
		$$->has_types = true;
	}
	;

/* map_kind := (hash|lru|percpu_hash) '<' K, V '>' | (array|percpu_array) '<' V '>'
 *           | devmap | cpumap | xskmap */
map_kind
	: set_kind { $$ = $1; }
	| IDENT {
		$$ = NEW(ctx->a, struct parse_kind);
		$$->name = $1;
		$$->loc = @1;
	}
	;

type_list
	: type                 { $$ = parse_vec1(ctx, $1); }
	| type_list ',' type   { $$ = parse_vec_add(ctx, $1, $3); }
	;

opt_max
	: %empty    { $$ = 0; }
	| MAX INT {
		$$ = $2;
		@$ = @2;  /* max_loc: the number */
		if ($2 == 0 || $2 > 0xffffffffu) {
			PARSE_ERROR(ctx, @2, "'max' must be between 1 and 4294967295");
			$$ = 1;
		}
	}
	;

opt_set_init
	: %empty        { $$ = NULL; }
	| '=' set_lit   { $$ = $2; }
	;

/* set_lit := '{' [elem (',' elem)* [',']] '}' */
set_lit
	: '{' '}'                    { $$ = parse_list_expr(ctx, E_SETLIT, NULL, NULL, @$); }
	| '{' exprs opt_comma '}'    { $$ = parse_list_expr(ctx, E_SETLIT, NULL, &$2, @$); }
	;

/* ---------------------------------------------------------------- rules */

rule_items
	: %empty                 { $$ = (struct ptrvec){ 0 }; }
	| rule_items rule_item   { $$ = $2 ? parse_vec_add(ctx, $1, $2) : $1; }
	;

rule_item
	/* 'match' expr ';' */
	: MATCH expr semi {
		/* dropped when broken, see semi */
		$$ = NULL;
		if ($3) {
			$$ = parse_item(ctx, PI_MATCH, parse_span(@1, @2));
			$$->expr = $2;
		}
	}
	/* 'limit' ['over'] RATE ['burst' expr] ['per' expr (',' expr)*] ';' */
	| LIMIT opt_over rate opt_burst opt_per semi {
		/* dropped when broken, see semi */
		$$ = NULL;
		if ($6) {
			$$ = parse_item(ctx, PI_LIMIT, parse_span(@1, @5));
			$$->limit = NEW(ctx->a, struct ast_limit);
			$$->limit->loc = $$->loc;
			$$->limit->over = $2;
			$$->limit->rate = $3;
			$$->limit->burst = $4;
			$$->limit->per = (struct ast_expr **)$5.items;
			$$->limit->nper = $5.len;
		}
	}
	/* 'rewrite' '{' stmt* '}' */
	| REWRITE '{' stmts block_end {
		$$ = parse_item(ctx, PI_REWRITE, @1);
		$$->list = $3;
	}
	/* 'verdict' verdict ';' */
	| VERDICT verdict semi {
		$$ = parse_item(ctx, PI_VERDICT, parse_span(@1, @2));
		$$->verdict = $2;
		parse_check_verdict(ctx, &$2);
	}
	| error ';'   { $$ = NULL; }
	;

opt_over
	: %empty   { $$ = false; }
	| OVER     { $$ = true; }
	;

/* rate := N/s | N/m | N/h | Nkbps | Nmbps | Ngbps  (also with spaces) */
rate
	: RATE             { $$ = $1; }
	| IDENT            { $$ = (struct xdpl_lit){ .kind = LIT_RATE, .str = $1 }; } /* a const */
	| INT '/' IDENT    { $$ = parse_rate_words(ctx, $1, $3, @$, true); }
	| INT IDENT        { $$ = parse_rate_words(ctx, $1, $2, @$, false); }
	;

opt_burst
	: %empty       { $$ = NULL; }
	| BURST expr   { $$ = $2; }
	;

opt_per
	: %empty      { $$ = (struct ptrvec){ 0 }; }
	| PER exprs   { $$ = $2; }
	;

/* verdict := 'pass' | 'drop' | 'abort' | 'tx' | 'route' | 'continue'
 *          | 'redirect' (IFNAME | 'ifindex' INT | MAP '[' expr ']' | 'cpu' INT)
 *          | 'redirect'        (only in `expect`: any redirect) */
verdict
	: PASS       { $$ = parse_verdict(V_PASS, @$); }
	| DROP       { $$ = parse_verdict(V_DROP, @$); }
	| ABORT      { $$ = parse_verdict(V_ABORT, @$); }
	| TX         { $$ = parse_verdict(V_TX, @$); }
	| ROUTE      { $$ = parse_verdict(V_ROUTE, @$); }
	| CONTINUE   { $$ = parse_verdict(V_CONTINUE, @$); }
	| REDIRECT   { $$ = parse_verdict(V_REDIRECT_ANY, @$); }
	| REDIRECT IDENT {
		$$ = parse_verdict(V_REDIRECT_DEV, @$);
		$$.ifname = $2;
	}
	/* Interface names that are not identifiers: redirect "eth0.100" */
	| REDIRECT STRING {
		$$ = parse_verdict(V_REDIRECT_DEV, @$);
		$$.ifname = $2.str;
		if ($2.len == 0 || $2.len >= 16 || memchr($2.str, 0, (size_t)$2.len))
			PARSE_ERROR(ctx, @2, "invalid interface name (1 to 15 characters)");
	}
	| REDIRECT IFINDEX INT {
		$$ = parse_verdict(V_REDIRECT_IFINDEX, @$);
		$$.num = $3;
	}
	| REDIRECT IDENT '[' expr ']' {
		$$ = parse_verdict(V_REDIRECT_MAP, @$);
		$$.map = $2;
		$$.key = $4;
	}
	| REDIRECT NAME '[' expr ']' {
		$$ = parse_verdict(V_REDIRECT_MAP, @$);
		$$.map = $2;
		$$.key = $4;
	}
	| REDIRECT CPU INT {
		$$ = parse_verdict(V_REDIRECT_CPU, @$);
		$$.num = $3;
	}
	/* A verdict of runtime/xdpl_meta.h's table that is no keyword, or a
	 * misspelt one: say so instead of listing every keyword. */
	| IDENT {
		$$ = parse_verdict_word(ctx, $1, @$);
	}
	;

/* ---------------------------------------------------------------- rewrite */

stmts
	: %empty        { $$ = (struct ptrvec){ 0 }; }
	| stmts stmt    { $$ = $2 ? parse_vec_add(ctx, $1, $2) : $1; }
	;

stmt
	/* lvalue '=' expr ';' */
	: lvalue '=' expr semi {
		$$ = $4 ? parse_assign(ctx, OP_EQ, $1, $3, parse_span(@1, @3)) : NULL;
	}
	/* lvalue '+=' expr ';' */
	| lvalue PLUSEQ expr semi {
		$$ = $4 ? parse_assign(ctx, OP_ADD, $1, $3, parse_span(@1, @3)) : NULL;
	}
	/* lvalue '-=' expr ';' */
	| lvalue MINUSEQ expr semi {
		$$ = $4 ? parse_assign(ctx, OP_SUB, $1, $3, parse_span(@1, @3)) : NULL;
	}
	/* 'swap' expr ',' expr ';' */
	| SWAP expr ',' expr semi {
		/* dropped when broken, see semi */
		$$ = NULL;
		if ($5) {
			$$ = parse_stmt(ctx, S_SWAP, parse_span(@1, @4));
			$$->lhs = $2;
			$$->rhs = $4;
		}
	}
	/* 'push' layer ';' */
	| PUSH layer semi {
		$$ = parse_stmt(ctx, S_PUSH, parse_span(@1, @2));
		$$->layers = NEW(ctx->a, struct ast_layer *);
		$$->layers[0] = $2;
		$$->nlayers = 1;
	}
	/* 'pop' IDENT ';' */
	| POP IDENT semi {
		$$ = parse_stmt(ctx, S_POP, parse_span(@1, @2));
		$$->header = $2;
	}
	/* 'encap' layer ('/' layer)* ';' */
	| ENCAP layers semi {
		$$ = parse_stmt(ctx, S_ENCAP, parse_span(@1, @2));
		$$->layers = (struct ast_layer **)$2.items;
		$$->nlayers = $2.len;
	}
	/* 'decap' ';' */
	| DECAP semi {
		$$ = parse_stmt(ctx, S_DECAP, @1);
	}
	/* IDENT 'add' expr ['timeout' duration] ';' */
	| IDENT ADD expr opt_timeout semi {
		/* dropped when broken, see semi */
		$$ = NULL;
		if ($5) {
			$$ = parse_stmt(ctx, S_SET_ADD, parse_span(@1, @4));
			$$->set = $1;
			$$->key = $3;
			$$->timeout = $4;
			$$->has_timeout = $4.kind == LIT_DURATION;
		}
	}
	/* IDENT 'del' expr ';' */
	| IDENT DEL expr semi {
		/* dropped when broken, see semi */
		$$ = NULL;
		if ($4) {
			$$ = parse_stmt(ctx, S_SET_DEL, parse_span(@1, @3));
			$$->set = $1;
			$$->key = $3;
		}
	}
	| error ';'   { $$ = NULL; }
	;

/* lvalue := NAME | IDENT '[' expr (',' expr)* ']' */
lvalue
	: name                  { $$ = parse_name(ctx, $1, @1); }
	| name '[' exprs ']'    { $$ = parse_list_expr(ctx, E_INDEX, $1, &$3, @$); }
	;

opt_timeout
	: %empty              { $$ = (struct xdpl_lit){ .kind = LIT_INT }; }
	| TIMEOUT duration    { $$ = $2; }
	;

/* duration := 60s | 500ms | 5m | 1h   (also `60 s`) */
duration
	: DURATION     { $$ = $1; }
	| IDENT        { $$ = (struct xdpl_lit){ .kind = LIT_DURATION, .str = $1 }; } /* a const */
	| INT IDENT    { $$ = parse_duration_words(ctx, $1, $2, @$); }
	| INT {
		/* Not again for a number the lexer rejected (5min). */
		if (memcmp(&@1, &ctx->lex->bad_number, sizeof(@1)))
			PARSE_ERROR(ctx, @1, "duration needs a unit: ms, s, m or h (e.g. %llus)",
				    (unsigned long long)$1);
		$$ = (struct xdpl_lit){ .kind = LIT_DURATION, .u = $1 * 1000 };
	}
	;

/* ---------------------------------------------------------------- tests */

test_items
	: %empty                 { $$ = (struct ptrvec){ 0 }; }
	| test_items test_item   { $$ = $2 ? parse_vec_add(ctx, $1, $2) : $1; }
	;

test_item
	/* 'packet' layers ';' */
	: PACKET layers semi {
		$$ = parse_item(ctx, PI_PACKET, parse_span(@1, @2));
		$$->list = $2;
	}
	/* 'expect' verdict ['by' (IDENT | 'default')] ';' */
	| EXPECT verdict opt_by semi {
		$$ = parse_item(ctx, PI_EXPECT, parse_span(@1, @3));
		$$->verdict = $2;
		$$->by = $3;
		$$->by_loc = @3;
	}
	/* 'output' layers ';' */
	| OUTPUT layers semi {
		$$ = parse_item(ctx, PI_OUTPUT, parse_span(@1, @2));
		$$->list = $2;
	}
	| error ';'   { $$ = NULL; }
	;

opt_by
	: %empty        { $$ = NULL; }
	| BY IDENT      { $$ = $2; @$ = @2; }
	| BY DEFAULT    { $$ = "default"; @$ = @2; }
	;

/* layers := layer ('/' layer)* */
layers
	: layer              { $$ = parse_vec1(ctx, $1); }
	| layers '/' layer   { $$ = parse_vec_add(ctx, $1, $3); }
	;

layer
	/* IDENT '(' [arg (',' arg)*] ')' */
	: IDENT '(' ')' {
		$$ = parse_layer(ctx, L_HEADER, @$);
		$$->header = $1;
	}
	| IDENT '(' layer_args ')' {
		$$ = parse_layer(ctx, L_HEADER, @$);
		$$->header = $1;
		$$->args = (struct ast_layer_arg **)$3.items;
		$$->nargs = $3.len;
	}
	/* 'payload' '(' STRING ')' */
	| PAYLOAD '(' strings ')'    { $$ = parse_bytes_layer(ctx, L_PAYLOAD, $3, @$); }
	/* 'payload' '(' 'hex' STRING ')' */
	| PAYLOAD '(' hex_lit ')'    { $$ = parse_bytes_layer(ctx, L_PAYLOAD, $3, @$); }
	/* 'raw' '(' 'hex' STRING ')' */
	| RAW '(' hex_lit ')'        { $$ = parse_bytes_layer(ctx, L_RAW, $3, @$); }
	;

layer_args
	: layer_arg                  { $$ = parse_vec1(ctx, $1); }
	| layer_args ',' layer_arg   { $$ = parse_vec_add(ctx, $1, $3); }
	;

/* arg := field_name '=' expr */
layer_arg
	: field_name '=' expr {
		$$ = NEW(ctx->a, struct ast_layer_arg);
		$$->field = $1;
		$$->loc = @1;
		$$->value = $3;
	}
	;

/* STRING+ : adjacent strings are one (long hex strings over lines) */
strings
	: STRING           { $$ = $1; }
	| strings STRING   { $$ = parse_concat(ctx, $1, $2); }
	;

/* hex_lit := 'hex' STRING+   (hex digits, whitespace ignored) */
hex_lit
	: HEX strings   { $$ = parse_hex(ctx, $2, @2); }
	;

/* ---------------------------------------------------------------- expressions */

exprs
	: expr             { $$ = parse_vec1(ctx, $1); }
	| exprs ',' expr   { $$ = parse_vec_add(ctx, $1, $3); }
	;

/* expr (reference §7), precedence from the declarations above. */
expr
	: expr OR expr       { $$ = parse_binary(ctx, OP_OR, $1, $3, @$); }
	| expr AND expr      { $$ = parse_binary(ctx, OP_AND, $1, $3, @$); }
	| NOT expr {
		$$ = parse_expr(ctx, E_NOT, @$);
		$$->lhs = $2;
	}
	| expr EQ expr       { $$ = parse_binary(ctx, OP_EQ, $1, $3, @$); }
	| expr NE expr       { $$ = parse_binary(ctx, OP_NE, $1, $3, @$); }
	| expr '<' expr      { $$ = parse_binary(ctx, OP_LT, $1, $3, @$); }
	| expr LE expr       { $$ = parse_binary(ctx, OP_LE, $1, $3, @$); }
	| expr '>' expr      { $$ = parse_binary(ctx, OP_GT, $1, $3, @$); }
	| expr GE expr       { $$ = parse_binary(ctx, OP_GE, $1, $3, @$); }
	/* value 'in' collection: a set name, a prefix, a range or { ... } */
	| expr IN expr {
		$$ = parse_expr(ctx, E_IN, @$);
		$$->lhs = $1;
		$$->rhs = $3;
	}
	/* lo '..' hi */
	| expr DOTDOT expr {
		$$ = parse_expr(ctx, E_RANGE, @$);
		$$->lhs = $1;
		$$->rhs = $3;
	}
	| expr '|' expr      { $$ = parse_binary(ctx, OP_BOR, $1, $3, @$); }
	| expr '^' expr      { $$ = parse_binary(ctx, OP_BXOR, $1, $3, @$); }
	| expr '&' expr      { $$ = parse_binary(ctx, OP_BAND, $1, $3, @$); }
	| expr SHL expr      { $$ = parse_binary(ctx, OP_SHL, $1, $3, @$); }
	| expr SHR expr      { $$ = parse_binary(ctx, OP_SHR, $1, $3, @$); }
	| expr '+' expr      { $$ = parse_binary(ctx, OP_ADD, $1, $3, @$); }
	| expr '-' expr      { $$ = parse_binary(ctx, OP_SUB, $1, $3, @$); }
	| expr '*' expr      { $$ = parse_binary(ctx, OP_MUL, $1, $3, @$); }
	| expr '%' expr      { $$ = parse_binary(ctx, OP_MOD, $1, $3, @$); }
	| primary            { $$ = $1; }
	;

primary
	/* literal */
	: INT        { $$ = parse_int(ctx, $1, @1); }
	| LITERAL    { $$ = parse_lit(ctx, $1, @1); }
	| TRUE       { $$ = parse_lit(ctx, (struct xdpl_lit){ .kind = LIT_BOOL, .u = 1 }, @1); }
	| FALSE      { $$ = parse_lit(ctx, (struct xdpl_lit){ .kind = LIT_BOOL, .u = 0 }, @1); }
	| hex_lit    { $$ = parse_lit(ctx, $1, @1); }
	/* HEADER | FIELD | const | set name */
	| name       { $$ = parse_name(ctx, $1, @1); }
	/* MAP '[' expr (',' expr)* ']' */
	| name '[' exprs ']'       { $$ = parse_list_expr(ctx, E_INDEX, $1, &$3, @$); }
	/* IDENT '(' [call_arg (',' call_arg)*] ')'   (builtins in defaults) */
	| IDENT '(' ')'            { $$ = parse_list_expr(ctx, E_CALL, $1, NULL, @$); }
	| IDENT '(' call_args ')'  { $$ = parse_list_expr(ctx, E_CALL, $1, &$3, @$); }
	/* 'hash' '(' expr (',' expr)* ')' */
	| HASH '(' exprs ')'       { $$ = parse_list_expr(ctx, E_HASH, NULL, &$3, @$); }
	/* '(' expr ')' */
	| '(' expr ')' {
		$$ = $2;
		$$->parenthesized = true;
		$$->loc = @$;
	}
	/* '(' expr ',' expr (',' expr)* ')' */
	| '(' expr ',' exprs ')' {
		struct ptrvec v = parse_vec1(ctx, $2);
		for (int i = 0; i < $4.len; i++)
			v = parse_vec_add(ctx, v, $4.items[i]);
		$$ = parse_list_expr(ctx, E_TUPLE, NULL, &v, @$);
	}
	/* '{' [elem (',' elem)* [',']] '}' */
	| set_lit   { $$ = $1; }
	;

call_args
	: call_arg                 { $$ = parse_vec1(ctx, $1); }
	| call_args ',' call_arg   { $$ = parse_vec_add(ctx, $1, $3); }
	;

/* checksum(payload): `payload` is a keyword, here it is an argument name. */
call_arg
	: expr      { $$ = $1; }
	| PAYLOAD   { $$ = parse_name(ctx, $1, @1); }
	;

%%

/* ---------------------------------------------------------------- syntax errors */

static bool parse_is_keyword(yysymbol_kind_t sym)
{
	const char *n = yysymbol_name(sym);
	return n[0] == '\'' && n[1] >= 'a' && n[1] <= 'z';
}

static bool parse_sym_is(yysymbol_kind_t sym, const char *name)
{
	return !strcmp(yysymbol_name(sym), name);
}

/* Words that begin a statement or a top-level item: seeing one where ';'
 * could have ended the previous statement means the ';' was forgotten. */
static bool parse_starts_statement(yysymbol_kind_t sym)
{
	static const char *const starts[] = {
		"'program'", "'import'", "'const'", "'header'", "'meta'", "'alias'",
		"'parser'", "'set'", "'map'", "'rule'", "'default'", "'test'", "'match'",
		"'limit'", "'rewrite'", "'verdict'", "'swap'", "'push'", "'pop'", "'encap'",
		"'decap'", "'extract'", "'next'", "'state'", "'select'", "'packet'",
		"'expect'", "'output'",
	};
	for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++)
		if (parse_sym_is(sym, starts[i]))
			return true;
	return false;
}

/* Words that only begin a top-level item: one inside a block means the
 * block's '}' was forgotten. */
static bool parse_starts_item(yysymbol_kind_t sym)
{
	static const char *const starts[] = {
		"'program'", "'import'", "'const'", "'header'", "'meta'", "'alias'",
		"'parser'", "'map'", "'rule'", "'test'",
	};
	for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++)
		if (parse_sym_is(sym, starts[i]))
			return true;
	return false;
}

/* "identifier 'foo'", "integer '12'", "'rule'", "'&&'", "end of file". */
static void parse_describe(char *buf, size_t size, yysymbol_kind_t sym, const char *text)
{
	const char *n = yysymbol_name(sym);
	if (sym == YYSYMBOL_YYEOF || sym == YYSYMBOL_YYerror || sym == YYSYMBOL_YYUNDEF ||
	    !text[0])
		snprintf(buf, size, "%s", n);
	else if (n[0] == '\'')
		snprintf(buf, size, "'%s'", text);  /* as written: '&&' for 'and' */
	else
		snprintf(buf, size, "%s '%s'", n, text);
}

/* Bison calls this for every syntax error (parse.error custom). The common
 * mistakes get a plain sentence; the rest the classic "unexpected X,
 * expecting Y or Z". */
static int yyreport_syntax_error(const yypcontext_t *yyctx, yyscan_t scanner,
				 struct parse_ctx *ctx)
{
	(void)scanner;
	struct lex_state *ls = ctx->lex;
	yysymbol_kind_t tok = yypcontext_token(yyctx);
	struct xdpl_loc loc = *yypcontext_location(yyctx);
	yysymbol_kind_t expected[YYNTOKENS];
	int n = yypcontext_expected_tokens(yyctx, expected, YYNTOKENS);
	bool want_semi = false, want_close = false, want_ident = false, want_eq = false;
	bool want_int = false, want_paren = false;
	for (int i = 0; i < n; i++) {
		want_semi |= parse_sym_is(expected[i], "';'");
		want_close |= parse_sym_is(expected[i], "'}'");
		want_ident |= expected[i] == YYSYMBOL_IDENT;
		want_eq |= expected[i] == YYSYMBOL_EQ;
		want_int |= expected[i] == YYSYMBOL_INT;
		want_paren |= parse_sym_is(expected[i], "'('");
	}
	/* Where an operand may start, the list of tokens says less than this. */
	bool want_expr = want_int && want_ident && want_paren;
	/* Lexical errors were reported already (an unterminated string
	 * swallows the '{' after it); a syntax error right after one is most
	 * likely its echo. Also quiet once the lexer gave up. */
	if (ls->gave_up || ls->lex_error_at >= ls->ntokens - 1)
		return 0;
	ls->nerrors++;

	/* The ';' goes right after the previous token: put the caret there. */
	if (want_semi && (n == 1 || tok == YYSYMBOL_YYEOF || parse_sym_is(tok, "'}'") ||
			  loc.first_line > ls->prev.last_line || parse_starts_statement(tok))) {
		struct xdpl_loc at = ls->prev;
		at.first_line = at.last_line;
		at.first_column = at.last_column = at.last_column + 1;
		diag_error(at, "missing ';' after '%s'", ls->prev_text);
		ls->semi_missing_at = ls->ntokens;
		return 0;
	}
	if (want_close && parse_starts_item(tok)) {
		diag_error(loc, "missing '}' before '%s'", ls->text);
		return 0;
	}
	if (want_ident && parse_is_keyword(tok)) {
		diag_error(loc, "'%s' is a reserved word and cannot be used as a name here",
			   ls->text);
		return 0;
	}
	char what[80];
	parse_describe(what, sizeof(what), tok, ls->text);
	if (tok == YYSYMBOL_YYEOF && want_close) {
		diag_error(loc, "unexpected end of file: missing '}'");
		return 0;
	}
	if (want_eq && parse_sym_is(tok, "'='")) {
		diag_error(loc, "syntax error, unexpected '=' (comparison is '==')");
		return 0;
	}
	if (want_expr) {
		diag_error(loc, "syntax error, unexpected %s, expecting an expression", what);
		return 0;
	}
	if (n == 0 || n > 5) {
		diag_error(loc, "syntax error, unexpected %s", what);
		return 0;
	}
	char list[400];
	size_t len = 0;
	for (int i = 0; i < n && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
					i == 0 ? "" : i == n - 1 ? " or " : ", ",
					yysymbol_name(expected[i]));
	diag_error(loc, "syntax error, unexpected %s, expecting %s", what, list);
	return 0;
}

/* Only "memory exhausted" comes here (parse.error custom). */
static void yyerror(YYLTYPE *loc, yyscan_t scanner, struct parse_ctx *ctx, const char *msg)
{
	(void)scanner;
	ctx->lex->nerrors++;
	if (!strcmp(msg, "memory exhausted"))
		diag_error(*loc, "nesting too deep for the parser");
	else
		diag_error(*loc, "%s", msg);
}

/* ---------------------------------------------------------------- entry */

struct ast_file *parse_file(struct arena *a, int file_id)
{
	const char *text = diag_source_text(file_id);
	if (!text) {
		diag_error((struct xdpl_loc){ 0 }, "internal error: no source text for file %d",
			   file_id);
		return NULL;
	}
	struct lex_state ls = { .a = a, .file = file_id, .line = 1, .col = 1 };
	ls.prev = ls.cur = (struct xdpl_loc){ 1, 1, 1, 1, file_id };
	ls.semi_missing_at = -1;
	ls.lex_error_at = -2;
	struct parse_ctx ctx = { .a = a, .file = file_id, .lex = &ls };
	yyscan_t scanner;
	if (yylex_init_extra(&ls, &scanner)) {
		diag_error((struct xdpl_loc){ 0 }, "out of memory");
		return NULL;
	}
	struct yy_buffer_state *buf = yy_scan_string(text, scanner);
	yyparse(scanner, &ctx);
	yy_delete_buffer(buf, scanner);
	yylex_destroy(scanner);

	struct ast_file *f = NEW(a, struct ast_file);
	f->path = arena_strdup(a, diag_source_path(file_id));
	f->file_id = file_id;
	f->decls = (struct ast_decl **)ctx.decls.items;
	f->ndecls = ctx.decls.len;
	return f;
}
