/* yaml_json.h - parse YAML (or JSON) text into a jansson tree.
 *
 * libyaml gives events, not a tree; canopy's readers (config, jobspec) want
 * a tree, so this small adapter builds one.  Scalars stay strings unless they
 * are plain (unquoted) and look like an integer, a real, true/false or null.
 * Pure: no I/O.  Errors come back as one line in errbuf naming line:column.
 */
#ifndef CANOPY_YAML_JSON_H
#define CANOPY_YAML_JSON_H
#include <jansson.h>
#include <stddef.h>

/* Parse the first document of `text` (length `len`).  Returns a new
 * reference, or NULL with a one-line message in errbuf. */
json_t *yaml_json_parse (const char *text, size_t len, char *errbuf, size_t errlen);

#endif
