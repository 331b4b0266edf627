/* Front-end fuzzer: mutated policies must give diagnostics, never a crash,
 * a sanitizer report or an internal error.
 *
 * Two ways to run it:
 * - as a test (default build): `fuzz_frontend ROOT [ITERATIONS] [SEED]`
 *   mutates the policies of tests/lang, tests/errors and examples with a
 *   deterministic PRNG and runs each through parse, sema, lowering and (when
 *   they lower) codegen, in-process under ASan+UBSan;
 * - with libFuzzer: build with clang -fsanitize=fuzzer -DXDPL_LIBFUZZER and
 *   run it on a corpus directory for coverage-guided search. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codegen.h"
#include "diag.h"
#include "frontend.h"
#include "lower.h"

static char tmp_path[] = "/tmp/xdpl-fuzz-XXXXXX.xdpl";
static int tmp_ready;
static unsigned long compiled, lowered, rejected, codegen_failed;

/* One input through every stage that accepts it. */
static void run_one(const uint8_t *data, size_t len, int with_codegen)
{
	if (!tmp_ready) {
		int fd = mkstemps(tmp_path, 5);
		if (fd < 0) {
			perror("mkstemps");
			exit(2);
		}
		close(fd);
		tmp_ready = 1;
	}
	FILE *f = fopen(tmp_path, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f)) {
		perror(tmp_path);
		exit(2);
	}
	FILE *devnull = fopen("/dev/null", "w");
	diag_set_stream(devnull);
	struct arena a = { 0 };
	struct sema_program sp;
	if (frontend_load(&a, tmp_path, &sp) == 0) {
		struct ir_program *ir = lower_program(&a, &sp);
		if (ir) {
			lowered++;
			void *obj = NULL;
			size_t obj_len = 0;
			struct codegen_opts opts = { .emit = CODEGEN_OBJ };
			if (with_codegen) {
				/* A program that lowers must compile: anything else is
				 * an internal error the user could do nothing about. */
				if (codegen_emit(ir, &opts, &obj, &obj_len) == 0)
					compiled++;
				else
					codegen_failed++;
			}
			free(obj);
		}
	} else {
		rejected++;
	}
	arena_free(&a);
	diag_reset();
	diag_set_stream(NULL);
	fclose(devnull);
}

#ifdef XDPL_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	run_one(data, len, 0);
	return 0;
}
#else

struct corpus {
	char **texts;
	size_t *lens;
	int n;
};

static void corpus_add_dir(struct corpus *c, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t nl = strlen(e->d_name);
		if (nl < 6 || strcmp(e->d_name + nl - 5, ".xdpl"))
			continue;
		char *path = NULL;
		if (asprintf(&path, "%s/%s", dir, e->d_name) < 0)
			exit(2);
		FILE *f = fopen(path, "rb");
		free(path);
		if (!f)
			continue;
		char *buf = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&buf, &len);
		char chunk[4096];
		size_t r;
		while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0)
			fwrite(chunk, 1, r, m);
		fclose(m);
		fclose(f);
		c->texts = realloc(c->texts, sizeof(char *) * (size_t)(c->n + 1));
		c->lens = realloc(c->lens, sizeof(size_t) * (size_t)(c->n + 1));
		if (!c->texts || !c->lens)
			exit(2);
		c->texts[c->n] = buf;
		c->lens[c->n] = len;
		c->n++;
	}
	closedir(d);
}

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64*: deterministic per seed, so a failure can be replayed. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

/* Fragments that steer mutations toward interesting syntax. */
static const char *const tokens[] = {
	"==", "!=", " in ", "..", "{", "}", "(", ")", ";", ",", "/", "not ", " and ", " or ",
	"tcp.dport", "ip4.src", "ip6.dst", "10.0.0.0/8", "2001:db8::/32", "02:00:00:00:00:01",
	"0xffffffffffffffff", "99999999999999999999", "rule r { verdict drop; }", "hex \"zz\"",
	"\"", "/*", "#", "set s: hash<ip4, u16> = { (1.2.3.4, 5) };", "loop 4", "bytes(",
	"header h { a: u4; }", "parser { state x { next x; } }", "-> accept;", "default ",
	"test \"t\" { packet eth()/raw(hex \"00\"); expect pass; }", "import \"x.xdpl\";",
};

static size_t mutate(const char *src, size_t len, char *out, size_t cap)
{
	size_t n = len < cap ? len : cap;
	memcpy(out, src, n);
	int rounds = 1 + (int)(rng() % 4);
	for (int r = 0; r < rounds; r++) {
		size_t pos = n ? rng() % n : 0;
		switch (rng() % 5) {
		case 0: /* flip a byte */
			if (n)
				out[pos] = (char)rng();
			break;
		case 1: { /* delete a span */
			size_t k = 1 + rng() % 16;
			if (pos + k > n)
				k = n - pos;
			memmove(out + pos, out + pos + k, n - pos - k);
			n -= k;
			break;
		}
		case 2: { /* insert a token */
			const char *t = tokens[rng() % (sizeof(tokens) / sizeof(tokens[0]))];
			size_t k = strlen(t);
			if (n + k >= cap)
				break;
			memmove(out + pos + k, out + pos, n - pos);
			memcpy(out + pos, t, k);
			n += k;
			break;
		}
		case 3: { /* duplicate a span elsewhere */
			size_t k = 1 + rng() % 64;
			if (pos + k > n || n + k >= cap)
				break;
			char span[64];
			memcpy(span, out + pos, k);
			size_t to = rng() % n;
			memmove(out + to + k, out + to, n - to);
			memcpy(out + to, span, k);
			n += k;
			break;
		}
		default: /* truncate */
			n = pos;
			break;
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	const char *root = argc > 1 ? argv[1] : ".";
	long iterations = argc > 2 ? atol(argv[2]) : 2000;
	rng_state = argc > 3 ? strtoull(argv[3], NULL, 0) : 0x9e3779b97f4a7c15ULL;
	struct corpus c = { 0 };
	const char *dirs[] = { "tests/lang", "tests/errors", "examples" };
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
		corpus_add_dir(&c, path);
	}
	if (!c.n) {
		fprintf(stderr, "fuzz_frontend: no .xdpl files under %s\n", root);
		return 1;
	}
	size_t cap = 1 << 20;
	char *buf = malloc(cap);
	if (!buf)
		return 2;
	for (long i = 0; i < iterations; i++) {
		int k = (int)(rng() % (uint64_t)c.n);
		size_t n = mutate(c.texts[k], c.lens[k], buf, cap);
		/* Codegen is the slow stage: exercise it on every 16th input. */
		run_one((const uint8_t *)buf, n, i % 16 == 0);
	}
	printf("fuzz_frontend: %ld inputs from %d files: %lu rejected with diagnostics, "
	       "%lu lowered, %lu compiled, %lu failed in codegen\n",
	       iterations, c.n, rejected, lowered, compiled, codegen_failed);
	for (int i = 0; i < c.n; i++)
		free(c.texts[i]);
	free(c.texts);
	free(c.lens);
	free(buf);
	unlink(tmp_path);
	return codegen_failed ? 1 : 0;
}
#endif
