/* Manual pages from the option tables (cfg_man.h). */
#include "cfg_man.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_priv.h"

void cfg_man_escape(const char *s, FILE *out)
{
	bool line_start = true;
	for (; *s; s++) {
		if (line_start && (*s == '.' || *s == '\''))
			fputs("\\&", out);
		line_start = *s == '\n';
		if (*s == '\\')
			fputs("\\e", out);
		else if (*s == '-')
			fputs("\\-", out);
		else
			fputc(*s, out);
	}
}

static const char *type_word(cfg_type t)
{
	switch (t) {
	case CFG_LIST:
		return "a list (YAML sequence, or comma-separated)";
	case CFG_INT:
		return "a number";
	case CFG_DURATION:
		return "a duration (250ms, 10s, 2m, 1h; a bare number is seconds)";
	case CFG_SIZE:
		return "a size (512, 4k, 1M, 1GiB)";
	case CFG_BOOL:
		return "a boolean";
	case CFG_SECRET:
		return "a secret (never shown)";
	case CFG_MAP:
		return "a mapping of NAME: VALUE";
	case CFG_STRING:
		break;
	}
	return "text";
}

void cfg_man_options(const cfg_table *t, FILE *out)
{
	for (size_t i = 0; i < t->n; i++) {
		const cfg_option *o = &t->options[i];
		fputs(".TP\n\\fB", out);
		cfg_man_escape("--", out);
		cfg_man_escape(o->name, out);
		fputs("\\fR \\fI", out);
		cfg_man_escape(o->metavar ? o->metavar : "VALUE", out);
		fputs("\\fR\n", out);
		cfg_man_escape(o->help, out);
		fputs("\n.br\nFile key \\fB", out);
		cfg_man_escape(o->name, out);
		fputs("\\fR, ", out);
		cfg_man_escape(type_word(o->type), out);
		if (o->type != CFG_MAP) {
			char *env = cfg_env_name(t, o);
			fputs("; environment \\fB", out);
			cfg_man_escape(env, out);
			fputs("\\fR", out);
			free(env);
		}
		if (o->def && *o->def) {
			fputs("; default \\fB", out);
			cfg_man_escape(o->def, out);
			fputs("\\fR", out);
		}
		fputs(o->reloadable ? "; reloadable.\n" : "; a change needs a restart.\n", out);
	}
}

void cfg_man_verbatim(const char *text, FILE *out)
{
	fputs(".PP\n.nf\n", out);
	cfg_man_escape(text, out);
	size_t n = strlen(text);
	if (n && text[n - 1] != '\n')
		fputc('\n', out);
	fputs(".fi\n", out);
}
