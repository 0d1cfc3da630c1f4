/* The checks of the `kubernetes:` rows (options_kubernetes.h). */
#include <stdbool.h>
#include <stddef.h>

#include "k8s_pod.h"
#include "options.h"
#include "options_kubernetes.h"

static int refuse(const char *s, bool ok, const char *what, char **err)
{
	if (s && !ok) {
		err_set(err, "'%s' is not a Kubernetes %s", s, what);
		return -1;
	}
	return 0;
}

int kubernetes_check_label(const void *v, char **err)
{
	return refuse(
	    v, k8s_valid_label(v, false),
	    "label key ([prefix/]name, the name at most 63 letters, digits, '-', '_' or '.')", err);
}

int kubernetes_check_value(const void *v, char **err)
{
	return refuse(v, k8s_valid_label(v, true),
	              "label value (at most 63 letters, digits, '-', '_' or '.')", err);
}

int kubernetes_check_name(const void *v, char **err)
{
	return refuse(v, k8s_valid_name(v), "name (lower-case letters, digits, '-', '.')", err);
}

bool tandemd_kubernetes_on(const tandemd_settings *s)
{
	return s->k8s_role_label != NULL;
}
