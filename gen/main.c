/*
 * main.c - the ava-gen command line (see doc/ava-gen.1).
 *
 * Stages: parse the spec (spec.h) -> read the header with libclang
 * (header.h) -> check, building the model (model.h) -> one back end per
 * output (emit.h). Outputs are written only when their content changes.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emit.h"

enum mode { MODE_GENERATE, MODE_DRAFT, MODE_COVERAGE, MODE_WIRE };

struct options {
	enum mode mode;
	const char *spec, *ids, *outdir, *name, *draft, *output, *depfile;
	struct ava_vec incdirs;       /* const char * */
	struct ava_vec defines;       /* struct ava_define *, for --draft */
};

static void
usage(FILE *f)
{
	fputs("usage: ava-gen --spec FILE --ids FILE --outdir DIR [--name NAME]\n"
	      "               [-I DIR]... [--depfile FILE]\n"
	      "       ava-gen --wire-layout --spec FILE --ids FILE [-o FILE]\n"
	      "       ava-gen --coverage --spec FILE [--ids FILE] [-o FILE]\n"
	      "       ava-gen --draft HEADER [-I DIR]... [-D NAME[=VALUE]]... [-o FILE]\n",
	      f);
}

static int
parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "spec", required_argument, NULL, 's' },
		{ "ids", required_argument, NULL, 'i' },
		{ "outdir", required_argument, NULL, 'O' },
		{ "name", required_argument, NULL, 'n' },
		{ "draft", required_argument, NULL, 'd' },
		{ "coverage", no_argument, NULL, 'c' },
		{ "wire-layout", no_argument, NULL, 'w' },
		{ "depfile", required_argument, NULL, 'M' },
		{ "output", required_argument, NULL, 'o' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "I:D:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's': o->spec = optarg; break;
		case 'i': o->ids = optarg; break;
		case 'O': o->outdir = optarg; break;
		case 'n': o->name = optarg; break;
		case 'd': o->draft = optarg; o->mode = MODE_DRAFT; break;
		case 'c': o->mode = MODE_COVERAGE; break;
		case 'w': o->mode = MODE_WIRE; break;
		case 'M': o->depfile = optarg; break;
		case 'o': o->output = optarg; break;
		case 'I': ava_vec_push(&o->incdirs, optarg); break;
		case 'D': {
			struct ava_define *d = xcalloc(1, sizeof(*d));
			char *eq = strchr(optarg, '=');
			d->name = eq ? xstrndup(optarg, (size_t)(eq - optarg)) : xstrdup(optarg);
			d->value = eq ? xstrdup(eq + 1) : NULL;
			ava_vec_push(&o->defines, d);
			break;
		}
		case 'V': puts("ava-gen " AVA_GEN_VERSION); exit(0);
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind != argc || (o->mode != MODE_DRAFT && o->spec == NULL) ||
	    (o->mode == MODE_GENERATE && (o->ids == NULL || o->outdir == NULL)) ||
	    (o->mode == MODE_WIRE && o->ids == NULL)) {
		usage(stderr);
		return -1;
	}
	return 0;
}

static int
output_text(const struct options *o, const char *text)
{
	if (o->output == NULL) {
		fputs(text, stdout);
		return fflush(stdout) == 0 ? 0 : -1;
	}
	int err = ava_write_if_changed(o->output, text, strlen(text));
	if (err != 0)
		fprintf(stderr, "%s: error: cannot write: %s\n", o->output, strerror(-err));
	return err;
}

static int
run_draft(const struct options *o)
{
	struct ava_header_opts ho = {
		.header = o->draft, .defines = &o->defines,
		.incdirs = (const char *const *)o->incdirs.items,
		.nincdirs = o->incdirs.n, .loc = { o->draft, 0, 0 },
	};
	struct ava_header *h = NULL;
	if (ava_header_read(&ho, &h) != 0)
		return -1;
	char *text = ava_emit_draft(h, o->draft);
	int ret = output_text(o, text);
	free(text);
	ava_header_destroy(h);
	return ret;
}

static char *
read_or_report(const char *path, size_t *len)
{
	char *src = ava_read_file(path, len);
	if (src == NULL)
		ava_error((struct ava_loc){ path, 0, 0 }, "cannot read: %s",
			  strerror(errno));
	return src;
}

struct outputs {
	const char *suffix;
	char *(*emit)(const struct ava_model *m);
};

static const struct outputs outputs[] = {
	{ "desc.h", ava_emit_desc_h }, { "desc.c", ava_emit_desc_c },
	{ "server.h", ava_emit_server_h }, { "server.c", ava_emit_server_c },
	{ "guest.h", ava_emit_guest_h }, { "guest.c", ava_emit_guest_c },
};

static int
write_depfile(const struct options *o, const struct ava_model *m)
{
	struct ava_str s = { 0 };
	for (size_t i = 0; i < sizeof(outputs) / sizeof(outputs[0]); i++)
		ava_str_printf(&s, "%s%s/%s-%s", i ? " " : "", o->outdir, m->name,
			       outputs[i].suffix);
	ava_str_add(&s, ":");
	for (size_t i = 0; i < m->hdr->deps.n; i++)
		ava_str_printf(&s, " %s", (const char *)m->hdr->deps.items[i]);
	ava_str_add(&s, "\n");
	int err = ava_write_if_changed(o->depfile, s.data, s.len);
	ava_str_finish(&s);
	return err;
}

static int
generate(const struct options *o, const struct ava_model *m)
{
	for (size_t i = 0; i < sizeof(outputs) / sizeof(outputs[0]); i++) {
		char *path = xasprintf("%s/%s-%s", o->outdir, m->name, outputs[i].suffix);
		char *text = outputs[i].emit(m);
		int err = ava_write_if_changed(path, text, strlen(text));
		if (err != 0)
			fprintf(stderr, "%s: error: cannot write: %s\n", path,
				strerror(-err));
		free(text);
		free(path);
		if (err != 0)
			return -1;
	}
	return o->depfile ? write_depfile(o, m) : 0;
}

static int
run_model(const struct options *o, struct ava_model *m)
{
	if (o->mode == MODE_GENERATE)
		return generate(o, m);
	char *text = o->mode == MODE_WIRE ? ava_emit_wire(m) : ava_emit_coverage(m);
	int ret = output_text(o, text);
	free(text);
	return ret;
}

static int
load_ids(const struct options *o, struct ava_vec *ids)
{
	if (o->ids == NULL)
		return 0;
	size_t len;
	char *src = read_or_report(o->ids, &len);
	if (src == NULL)
		return -1;
	int ret = ava_ids_read(o->ids, src, len, ids);
	free(src);
	return ret;
}

static int
run_spec(const struct options *o)
{
	size_t len;
	int ret = -1;
	struct ava_spec *spec = NULL;
	struct ava_header *h = NULL;
	struct ava_model *m = NULL;
	struct ava_vec ids = { 0 };
	char *src = read_or_report(o->spec, &len);
	if (src == NULL || ava_spec_parse(o->spec, src, len, &spec) != 0)
		goto err_src;
	if (!spec->has_api || spec->api.header.name == NULL) {
		ava_error((struct ava_loc){ o->spec, 1, 1 },
			  "the spec needs an api block that names its header");
		goto err_spec;
	}
	if (load_ids(o, &ids) != 0)
		goto err_ids;
	struct ava_header_opts ho = {
		.header = spec->api.header.name,
		.icd_header = spec->api.icd_header.name,
		.private_header = spec->api.private_header.name,
		.extension_header = spec->api.extension_header.name,
		.icd_struct = spec->api.icd_dispatch.name ? spec->api.icd_dispatch.name
							  : "_cl_icd_dispatch",
		.defines = &spec->api.defines, .sections = &spec->api.sections,
		.incdirs = (const char *const *)o->incdirs.items,
		.nincdirs = o->incdirs.n, .loc = spec->api.header.loc,
	};
	if (ava_header_read(&ho, &h) != 0)
		goto err_ids;
	if (ava_check(spec, h, &ids, o->name, o->mode == MODE_COVERAGE, &m) != 0)
		goto err_header;
	char *wire = ava_emit_wire(m);
	m->spec_hash = ava_fnv1a(wire, strlen(wire));
	free(wire);
	ret = run_model(o, m);
	ava_model_destroy(m);
err_header:
	ava_header_destroy(h);
err_ids:
	ava_ids_free(&ids);
err_spec:
	ava_spec_destroy(spec);
err_src:
	free(src);
	return ret;
}

int
main(int argc, char **argv)
{
	struct options o = { 0 };
	int ret = parse_options(argc, argv, &o);
	if (ret == 0)
		ret = o.mode == MODE_DRAFT ? run_draft(&o) : run_spec(&o);
	for (size_t i = 0; i < o.defines.n; i++) {
		struct ava_define *d = o.defines.items[i];
		free(d->name);
		free(d->value);
		free(d);
	}
	ava_vec_finish(&o.defines);
	ava_vec_finish(&o.incdirs);
	if (ret == 0 && ava_error_count() > 0)
		ret = -1;
	return ret == 0 ? 0 : 1;
}
