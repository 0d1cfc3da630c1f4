/* The checks of the `kubernetes:` rows (options_kubernetes.h). */
#include <stdbool.h>
#include <stddef.h>

#include "k8s_pod.h"
#include "options.h"
#include "options_kubernetes.h"

int kubernetes_check_label(const void *v, char **err)
{
	const char *s = v;
	if (s && !k8s_valid_label(s, false)) {
		err_set(err,
		        "'%s' is not a Kubernetes label key ([prefix/]name, the name at most 63 "
		        "letters, digits, '-', '_' or '.')",
		        s);
		return -1;
	}
	return 0;
}

int kubernetes_check_value(const void *v, char **err)
{
	const char *s = v;
	if (s && !k8s_valid_label(s, true)) {
		err_set(err,
		        "'%s' is not a Kubernetes label value (at most 63 letters, digits, '-', "
		        "'_' or '.')",
		        s);
		return -1;
	}
	return 0;
}

int kubernetes_check_name(const void *v, char **err)
{
	const char *s = v;
	if (s && !k8s_valid_name(s)) {
		err_set(err, "'%s' is not a Kubernetes name (lower-case letters, digits, '-', '.')",
		        s);
		return -1;
	}
	return 0;
}

bool tandemd_kubernetes_on(const tandemd_settings *s)
{
	return s->k8s_role_label != NULL;
}
