/*
 * common/cfg.h - YAML configuration documents with positions, via libyaml.
 *
 * Every config in gpunas (experiments, search spaces, model presets) is read
 * into this small tree first. Each node remembers its file, line and column so
 * that every error can say "file:line:column: what was expected, what was
 * found". Typed getters check ranges, and nas_cfg_check_keys turns unknown keys
 * into errors instead of silently ignoring a typo. Anchors, aliases and
 * duplicate keys are rejected: configs are meant to be read by people.
 */
#ifndef NAS_COMMON_CFG_H
#define NAS_COMMON_CFG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

typedef enum { NAS_CFG_SCALAR, NAS_CFG_MAP, NAS_CFG_SEQ } nas_cfg_type;

typedef struct nas_cfg_node nas_cfg_node;
struct nas_cfg_node {
    nas_cfg_type type;
    int line, column;      /* 1-based position of the node's start */
    char *scalar;          /* SCALAR: the text (never NULL) */
    bool quoted;           /* SCALAR: written with quotes (so never a number/bool) */
    size_t n;              /* MAP: number of pairs; SEQ: number of items */
    char **keys;           /* MAP: keys[i] */
    nas_cfg_node **items;  /* MAP: value of keys[i]; SEQ: item i */
    int *key_lines, *key_columns; /* MAP: position of keys[i] */
};

typedef struct nas_cfg {
    char *source;          /* file path, or a name given for in-memory text */
    nas_cfg_node *root;    /* NULL for an empty document */
} nas_cfg;

/* Parses a YAML file. On error returns NAS_EIO/NAS_EPARSE with "path:line:col: ...". */
int nas_cfg_load_file(const char *path, nas_cfg **out, nas_err *err);

/* Parses YAML text; source_name is used in error messages. */
int nas_cfg_load_string(const char *text, size_t len, const char *source_name, nas_cfg **out,
                        nas_err *err);

void nas_cfg_free(nas_cfg **cfg);

/* Formats "source:line:col: message" into err and returns code. */
int nas_cfg_error(const nas_cfg *cfg, const nas_cfg_node *at, nas_err *err, int code, const char *fmt,
                  ...) __attribute__((format(printf, 5, 6)));

/* Returns the value of key in map, or NULL if map is not a map or lacks key. */
const nas_cfg_node *nas_cfg_get(const nas_cfg_node *map, const char *key);

/* Checks that node is of the given type; what names it in the error ("stage 3"). */
int nas_cfg_expect(const nas_cfg *cfg, const nas_cfg_node *node, nas_cfg_type type, const char *what,
                   nas_err *err);

/* Fails on the first key of map that is not in allowed (NULL-terminated),
 * naming the key and listing the allowed ones. */
int nas_cfg_check_keys(const nas_cfg *cfg, const nas_cfg_node *map, const char *const *allowed,
                       const char *what, nas_err *err);

/* Scalar conversions of one node, with range checks; what names the value. */
int nas_cfg_node_int(const nas_cfg *cfg, const nas_cfg_node *node, const char *what, long min,
                     long max, long *out, nas_err *err);
int nas_cfg_node_double(const nas_cfg *cfg, const nas_cfg_node *node, const char *what, double min,
                        double max, double *out, nas_err *err);
int nas_cfg_node_bool(const nas_cfg *cfg, const nas_cfg_node *node, const char *what, bool *out,
                      nas_err *err);
int nas_cfg_node_string(const nas_cfg *cfg, const nas_cfg_node *node, const char *what,
                        const char **out, nas_err *err);
/* Matches a scalar against names (NULL-terminated); *out is the index. */
int nas_cfg_node_enum(const nas_cfg *cfg, const nas_cfg_node *node, const char *what,
                      const char *const *names, int *out, nas_err *err);

/* Keyed getters on a map. If the key is absent: with required, an error at the
 * map ("missing key 'x'"); otherwise *out = def and 0 is returned. */
int nas_cfg_get_int(const nas_cfg *cfg, const nas_cfg_node *map, const char *key, bool required,
                    long def, long min, long max, long *out, nas_err *err);
int nas_cfg_get_double(const nas_cfg *cfg, const nas_cfg_node *map, const char *key, bool required,
                       double def, double min, double max, double *out, nas_err *err);
int nas_cfg_get_bool(const nas_cfg *cfg, const nas_cfg_node *map, const char *key, bool required,
                     bool def, bool *out, nas_err *err);
int nas_cfg_get_string(const nas_cfg *cfg, const nas_cfg_node *map, const char *key, bool required,
                       const char *def, const char **out, nas_err *err);
int nas_cfg_get_enum(const nas_cfg *cfg, const nas_cfg_node *map, const char *key, bool required,
                     const char *const *names, int def, int *out, nas_err *err);

#endif
