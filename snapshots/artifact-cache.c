/* Which artifacts in the blob cache the store's snapshots stand for
 * (artifact.h): what gc --keep-cache keeps. */
#define _GNU_SOURCE
#include <string.h>

#include "artifact.h"

/* sn's meta.json digest (what its artifact's config is) into configs, and
 * the manifest it was pulled as into keep. */
static int snapshot_refs(struct store *s, const char *name, char ***configs, char ***keep)
{
	_cleanup_(snapshot_freep) struct snapshot *sn = NULL;
	if (snapshot_open(s, name, &sn) < 0)
		return 0; /* removed meanwhile, or unreadable: stands for nothing */
	_cleanup_free_ char *path = snapshot_path(sn, "meta.json"), *meta = NULL, *ref = NULL, *digest = NULL;
	char config[OCI_DIGEST_LEN + 1];
	size_t n;
	if (!path)
		return -ENOMEM;
	if (read_file_untrusted(path, ARTIFACT_CONFIG_MAX, &meta, &n) == 0 && oci_digest_of(meta, n, config) == 0 &&
	    !(*configs = strv_append(*configs, config)))
		return -ENOMEM;
	if (snapshot_origin_read(sn, &ref, &digest) == 0 && !(*keep = strv_append(*keep, digest)))
		return -ENOMEM;
	return 0;
}

static bool config_in(struct oci_layout *l, const char *manifest, char *const *configs)
{
	json_object *m = NULL, *d;
	if (oci_manifest_read(l, manifest, &m) < 0)
		return false;
	bool in = false;
	if (json_object_object_get_ex(json_object_object_get(m, "config"), "digest", &d))
		for (char *const *c = configs; !in && *c; c++)
			in = !strcmp(*c, json_object_get_string(d));
	json_object_put(m);
	return in;
}

int artifact_cache_needed(struct store *s, struct oci_layout *l, char ***ret)
{
	_cleanup_strv_free_ char **names = NULL, **configs = calloc(1, sizeof(char *)), **index = NULL;
	char **keep = calloc(1, sizeof(char *));
	int r = !configs || !keep ? -ENOMEM : snapshot_list(s, &names);
	for (char **n = names; r == 0 && *n; n++)
		r = snapshot_refs(s, *n, &configs, &keep);
	if (r == 0)
		r = oci_index_digests(l, &index);
	for (char **i = index; r == 0 && *i; i++)
		if (config_in(l, *i, configs) && !(keep = strv_append(keep, *i)))
			r = -ENOMEM;
	if (r < 0) {
		strv_free(keep);
		return r;
	}
	*ret = keep;
	return 0;
}
