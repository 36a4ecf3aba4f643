/*
 * common/cfg.c - libyaml event stream -> nas_cfg_node tree, and typed getters.
 * See cfg.h for the contract. The parser is a recursive descent over libyaml
 * events with an explicit depth limit, so hostile input cannot blow the stack.
 */
#include "common/cfg.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define CFG_MAX_DEPTH 64

static void node_free(nas_cfg_node *n) {
    if (!n) return;
    free(n->scalar);
    for (size_t i = 0; i < n->n; i++) {
        if (n->keys) free(n->keys[i]);
        node_free(n->items[i]);
    }
    free(n->keys);
    free(n->items);
    free(n->key_lines);
    free(n->key_columns);
    free(n);
}

void nas_cfg_free(nas_cfg **cfg) {
    if (!cfg || !*cfg) return;
    node_free((*cfg)->root);
    free((*cfg)->source);
    free(*cfg);
    *cfg = NULL;
}

int nas_cfg_error(const nas_cfg *cfg, const nas_cfg_node *at, nas_err *err, int code, const char *fmt,
                  ...) {
    char msg[NAS_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *src = cfg && cfg->source ? cfg->source : "<config>";
    if (at) return nas_err_set(err, code, "%s:%d:%d: %s", src, at->line, at->column, msg);
    return nas_err_set(err, code, "%s: %s", src, msg);
}

typedef struct parser {
    yaml_parser_t yp;
    nas_cfg *cfg;
    nas_err *err;
    const char *text; /* the whole input, for hints about the problem line */
    size_t len;
} parser;

/* True if the 0-based line of text has a tab before 0-based column col (+1).
 * libyaml reports a tab in indentation as "cannot start any token", which does
 * not tell a person what to change. */
static bool tab_near(const char *text, size_t len, size_t line, size_t col) {
    size_t i = 0;
    for (size_t l = 0; l < line && i < len; i++)
        if (text[i] == '\n') l++;
    for (size_t c = 0; c <= col && i < len && text[i] != '\n'; c++, i++)
        if (text[i] == '\t') return true;
    return false;
}

static int parse_error_from_libyaml(parser *p) {
    const char *problem = p->yp.problem ? p->yp.problem : "malformed YAML";
    int line = (int)p->yp.problem_mark.line + 1, col = (int)p->yp.problem_mark.column + 1;
    const char *hint = tab_near(p->text, p->len, p->yp.problem_mark.line, p->yp.problem_mark.column)
                           ? " (a tab character: YAML indents with spaces only)"
                           : "";
    if (p->yp.context)
        return nas_err_set(p->err, NAS_EPARSE, "%s:%d:%d: invalid YAML: %s %s%s", p->cfg->source,
                           line, col, problem, p->yp.context, hint);
    return nas_err_set(p->err, NAS_EPARSE, "%s:%d:%d: invalid YAML: %s%s", p->cfg->source, line, col,
                       problem, hint);
}

static int next_event(parser *p, yaml_event_t *ev) {
    if (!yaml_parser_parse(&p->yp, ev)) return parse_error_from_libyaml(p);
    return 0;
}

static nas_cfg_node *node_new(nas_cfg_type type, const yaml_mark_t *mark) {
    nas_cfg_node *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->type = type;
    n->line = (int)mark->line + 1;
    n->column = (int)mark->column + 1;
    return n;
}

static int node_append(nas_cfg_node *parent, char *key, int kline, int kcol, nas_cfg_node *child) {
    size_t cap = parent->n + 1;
    nas_cfg_node **items = realloc(parent->items, cap * sizeof *items);
    if (!items) return NAS_ENOMEM;
    parent->items = items;
    if (parent->type == NAS_CFG_MAP) {
        char **keys = realloc(parent->keys, cap * sizeof *keys);
        if (!keys) return NAS_ENOMEM;
        parent->keys = keys;
        int *kl = realloc(parent->key_lines, cap * sizeof *kl);
        if (!kl) return NAS_ENOMEM;
        parent->key_lines = kl;
        int *kc = realloc(parent->key_columns, cap * sizeof *kc);
        if (!kc) return NAS_ENOMEM;
        parent->key_columns = kc;
        keys[parent->n] = key;
        kl[parent->n] = kline;
        kc[parent->n] = kcol;
    }
    items[parent->n++] = child;
    return 0;
}

static int parse_node(parser *p, yaml_event_t *first, int depth, nas_cfg_node **out);

static int parse_children(parser *p, nas_cfg_node *node, int depth) {
    for (;;) {
        yaml_event_t ev;
        int rc = next_event(p, &ev);
        if (rc) return rc;
        if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        char *key = NULL;
        int kline = 0, kcol = 0;
        if (node->type == NAS_CFG_MAP) {
            if (ev.type != YAML_SCALAR_EVENT) {
                int line = (int)ev.start_mark.line + 1, col = (int)ev.start_mark.column + 1;
                yaml_event_delete(&ev);
                return nas_err_set(p->err, NAS_EPARSE,
                                   "%s:%d:%d: mapping keys must be plain scalars", p->cfg->source,
                                   line, col);
            }
            kline = (int)ev.start_mark.line + 1;
            kcol = (int)ev.start_mark.column + 1;
            key = strndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
            yaml_event_delete(&ev);
            if (!key) return NAS_ENOMEM;
            for (size_t i = 0; i < node->n; i++) {
                if (strcmp(node->keys[i], key) == 0) {
                    rc = nas_err_set(p->err, NAS_EPARSE,
                                     "%s:%d:%d: duplicate key '%s' (first given at line %d)",
                                     p->cfg->source, kline, kcol, key, node->key_lines[i]);
                    free(key);
                    return rc;
                }
            }
            rc = next_event(p, &ev);
            if (rc) { free(key); return rc; }
        }
        nas_cfg_node *child = NULL;
        rc = parse_node(p, &ev, depth + 1, &child);
        if (rc) { free(key); return rc; }
        rc = node_append(node, key, kline, kcol, child);
        if (rc) {
            free(key);
            node_free(child);
            return nas_err_set(p->err, rc, "out of memory reading %s", p->cfg->source);
        }
    }
}

/* Consumes `first` (and the events of its children); builds *out. */
static int parse_node(parser *p, yaml_event_t *first, int depth, nas_cfg_node **out) {
    int line = (int)first->start_mark.line + 1, col = (int)first->start_mark.column + 1;
    if (depth > CFG_MAX_DEPTH) {
        yaml_event_delete(first);
        return nas_err_set(p->err, NAS_EPARSE, "%s:%d:%d: nesting deeper than %d levels",
                           p->cfg->source, line, col, CFG_MAX_DEPTH);
    }
    nas_cfg_node *n = NULL;
    int rc = 0;
    switch (first->type) {
    case YAML_SCALAR_EVENT:
        n = node_new(NAS_CFG_SCALAR, &first->start_mark);
        if (n) {
            n->scalar = strndup((const char *)first->data.scalar.value, first->data.scalar.length);
            n->quoted = first->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                        first->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
            if (!n->scalar) { free(n); n = NULL; }
        }
        if (first->data.scalar.anchor) {
            yaml_event_delete(first);
            node_free(n);
            return nas_err_set(p->err, NAS_EPARSE, "%s:%d:%d: YAML anchors are not supported",
                               p->cfg->source, line, col);
        }
        yaml_event_delete(first);
        if (!n) return nas_err_set(p->err, NAS_ENOMEM, "out of memory reading %s", p->cfg->source);
        break;
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT: {
        bool is_map = first->type == YAML_MAPPING_START_EVENT;
        bool anchored = is_map ? first->data.mapping_start.anchor != NULL
                               : first->data.sequence_start.anchor != NULL;
        n = node_new(is_map ? NAS_CFG_MAP : NAS_CFG_SEQ, &first->start_mark);
        yaml_event_delete(first);
        if (!n) return nas_err_set(p->err, NAS_ENOMEM, "out of memory reading %s", p->cfg->source);
        if (anchored) {
            node_free(n);
            return nas_err_set(p->err, NAS_EPARSE, "%s:%d:%d: YAML anchors are not supported",
                               p->cfg->source, line, col);
        }
        rc = parse_children(p, n, depth);
        if (rc) { node_free(n); return rc; }
        break;
    }
    case YAML_ALIAS_EVENT:
        yaml_event_delete(first);
        return nas_err_set(p->err, NAS_EPARSE, "%s:%d:%d: YAML aliases are not supported",
                           p->cfg->source, line, col);
    default:
        yaml_event_delete(first);
        return nas_err_set(p->err, NAS_EPARSE, "%s:%d:%d: unexpected YAML event", p->cfg->source,
                           line, col);
    }
    *out = n;
    return 0;
}

static int parse_document(parser *p) {
    yaml_event_t ev;
    int rc;
    /* STREAM_START, then DOCUMENT_START or STREAM_END (empty file). */
    if ((rc = next_event(p, &ev))) return rc;
    yaml_event_delete(&ev);
    if ((rc = next_event(p, &ev))) return rc;
    if (ev.type == YAML_STREAM_END_EVENT) { yaml_event_delete(&ev); return 0; }
    yaml_event_delete(&ev);
    if ((rc = next_event(p, &ev))) return rc;
    if ((rc = parse_node(p, &ev, 0, &p->cfg->root))) return rc;
    if ((rc = next_event(p, &ev))) return rc; /* DOCUMENT_END */
    yaml_event_delete(&ev);
    if ((rc = next_event(p, &ev))) return rc;
    if (ev.type != YAML_STREAM_END_EVENT) {
        int line = (int)ev.start_mark.line + 1;
        yaml_event_delete(&ev);
        return nas_err_set(p->err, NAS_EPARSE,
                           "%s:%d:1: more than one YAML document; a config holds exactly one",
                           p->cfg->source, line);
    }
    yaml_event_delete(&ev);
    return 0;
}

int nas_cfg_load_string(const char *text, size_t len, const char *source_name, nas_cfg **out,
                        nas_err *err) {
    *out = NULL;
    nas_cfg *cfg = calloc(1, sizeof *cfg);
    if (!cfg || !(cfg->source = strdup(source_name ? source_name : "<config>"))) {
        free(cfg);
        return nas_err_set(err, NAS_ENOMEM, "out of memory");
    }
    parser p = {.cfg = cfg, .err = err, .text = text, .len = len};
    if (!yaml_parser_initialize(&p.yp)) {
        nas_cfg_free(&cfg);
        return nas_err_set(err, NAS_ENOMEM, "cannot initialise the YAML parser");
    }
    yaml_parser_set_input_string(&p.yp, (const unsigned char *)text, len);
    int rc = parse_document(&p);
    yaml_parser_delete(&p.yp);
    if (rc) { nas_cfg_free(&cfg); return rc; }
    *out = cfg;
    return 0;
}

int nas_cfg_load_file(const char *path, nas_cfg **out, nas_err *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return nas_err_set(err, NAS_EIO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > ((size_t)64 << 20)) {
                free(buf);
                fclose(f);
                return nas_err_set(err, NAS_EINVAL, "%s: larger than 64 MiB; not a config file", path);
            }
            char *nb = realloc(buf, cap);
            if (!nb) { free(buf); fclose(f); return nas_err_set(err, NAS_ENOMEM, "out of memory"); }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed) { free(buf); return nas_err_set(err, NAS_EIO, "%s: read error", path); }
    int rc = nas_cfg_load_string(buf ? buf : "", len, path, out, err);
    free(buf);
    return rc;
}

const nas_cfg_node *nas_cfg_get(const nas_cfg_node *map, const char *key) {
    if (!map || map->type != NAS_CFG_MAP) return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->keys[i], key) == 0) return map->items[i];
    return NULL;
}

static const char *type_name(nas_cfg_type t) {
    return t == NAS_CFG_MAP ? "a mapping" : t == NAS_CFG_SEQ ? "a list" : "a scalar value";
}

int nas_cfg_expect(const nas_cfg *cfg, const nas_cfg_node *node, nas_cfg_type type, const char *what,
                   nas_err *err) {
    if (!node)
        return nas_cfg_error(cfg, NULL, err, NAS_EINVAL, "%s: expected %s, found nothing", what,
                             type_name(type));
    if (node->type != type)
        return nas_cfg_error(cfg, node, err, NAS_EINVAL, "%s: expected %s, found %s", what,
                             type_name(type), type_name(node->type));
    return 0;
}

int nas_cfg_check_keys(const nas_cfg *cfg, const nas_cfg_node *map, const char *const *allowed,
                       const char *what, nas_err *err) {
    int rc = nas_cfg_expect(cfg, map, NAS_CFG_MAP, what, err);
    if (rc) return rc;
    for (size_t i = 0; i < map->n; i++) {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, map->keys[i]) == 0) { ok = true; break; }
        if (ok) continue;
        char list[512] = "";
        size_t used = 0;
        for (const char *const *a = allowed; *a && used < sizeof list; a++) {
            int w = snprintf(list + used, sizeof list - used, "%s%s", a == allowed ? "" : ", ", *a);
            if (w < 0) break;
            used += (size_t)w;
        }
        return nas_err_set(err, NAS_EINVAL, "%s:%d:%d: %s: unknown key '%s' (allowed: %s)",
                           cfg->source, map->key_lines[i], map->key_columns[i], what, map->keys[i],
                           list);
    }
    return 0;
}

int nas_cfg_node_string(const nas_cfg *cfg, const nas_cfg_node *node, const char *what,
                        const char **out, nas_err *err) {
    int rc = nas_cfg_expect(cfg, node, NAS_CFG_SCALAR, what, err);
    if (rc) return rc;
    *out = node->scalar;
    return 0;
}

int nas_cfg_node_int(const nas_cfg *cfg, const nas_cfg_node *node, const char *what, long min,
                     long max, long *out, nas_err *err) {
    int rc = nas_cfg_expect(cfg, node, NAS_CFG_SCALAR, what, err);
    if (rc) return rc;
    char *end = NULL;
    errno = 0;
    long v = strtol(node->scalar, &end, 10);
    if (node->quoted || end == node->scalar || *end != '\0' || errno == ERANGE)
        return nas_cfg_error(cfg, node, err, NAS_EINVAL, "%s: expected an integer, found '%s'", what,
                             node->scalar);
    if (v < min || v > max)
        return nas_cfg_error(cfg, node, err, NAS_ERANGE, "%s: %ld is out of range [%ld, %ld]", what,
                             v, min, max);
    *out = v;
    return 0;
}

int nas_cfg_node_double(const nas_cfg *cfg, const nas_cfg_node *node, const char *what, double min,
                        double max, double *out, nas_err *err) {
    int rc = nas_cfg_expect(cfg, node, NAS_CFG_SCALAR, what, err);
    if (rc) return rc;
    char *end = NULL;
    errno = 0;
    double v = strtod(node->scalar, &end);
    if (node->quoted || end == node->scalar || *end != '\0' || errno == ERANGE || !isfinite(v))
        return nas_cfg_error(cfg, node, err, NAS_EINVAL, "%s: expected a number, found '%s'", what,
                             node->scalar);
    if (v < min || v > max)
        return nas_cfg_error(cfg, node, err, NAS_ERANGE, "%s: %g is out of range [%g, %g]", what, v,
                             min, max);
    *out = v;
    return 0;
}

int nas_cfg_node_bool(const nas_cfg *cfg, const nas_cfg_node *node, const char *what, bool *out,
                      nas_err *err) {
    int rc = nas_cfg_expect(cfg, node, NAS_CFG_SCALAR, what, err);
    if (rc) return rc;
    static const char *truthy[] = {"true", "yes", "on"}, *falsy[] = {"false", "no", "off"};
    for (int i = 0; i < 3 && !node->quoted; i++) {
        if (strcasecmp(node->scalar, truthy[i]) == 0) { *out = true; return 0; }
        if (strcasecmp(node->scalar, falsy[i]) == 0) { *out = false; return 0; }
    }
    return nas_cfg_error(cfg, node, err, NAS_EINVAL, "%s: expected true or false, found '%s'", what,
                         node->scalar);
}

int nas_cfg_node_enum(const nas_cfg *cfg, const nas_cfg_node *node, const char *what,
                      const char *const *names, int *out, nas_err *err) {
    int rc = nas_cfg_expect(cfg, node, NAS_CFG_SCALAR, what, err);
    if (rc) return rc;
    char list[512] = "";
    size_t used = 0;
    for (int i = 0; names[i]; i++) {
        if (strcmp(names[i], node->scalar) == 0) { *out = i; return 0; }
        if (used < sizeof list) {
            int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
            if (w > 0) used += (size_t)w;
        }
    }
    return nas_cfg_error(cfg, node, err, NAS_EINVAL, "%s: unknown value '%s' (expected one of: %s)",
                         what, node->scalar, list);
}

/* Shared by the keyed getters: finds key or reports it missing. Returns 1 if
 * present (*node set), 0 if absent and optional, negative on error. */
static int keyed(const nas_cfg *cfg, const nas_cfg_node *map, const char *key, bool required,
                 const nas_cfg_node **node, nas_err *err) {
    *node = nas_cfg_get(map, key);
    if (*node) return 1;
    if (required)
        return nas_cfg_error(cfg, map, err, NAS_EINVAL, "missing required key '%s'", key);
    return 0;
}

int nas_cfg_get_int(const nas_cfg *cfg, const nas_cfg_node *map, const char *key, bool required,
                    long def, long min, long max, long *out, nas_err *err) {
    const nas_cfg_node *n;
    int rc = keyed(cfg, map, key, required, &n, err);
    if (rc <= 0) { if (rc == 0) *out = def; return rc; }
    return nas_cfg_node_int(cfg, n, key, min, max, out, err);
}

int nas_cfg_get_double(const nas_cfg *cfg, const nas_cfg_node *map, const char *key, bool required,
                       double def, double min, double max, double *out, nas_err *err) {
    const nas_cfg_node *n;
    int rc = keyed(cfg, map, key, required, &n, err);
    if (rc <= 0) { if (rc == 0) *out = def; return rc; }
    return nas_cfg_node_double(cfg, n, key, min, max, out, err);
}

int nas_cfg_get_bool(const nas_cfg *cfg, const nas_cfg_node *map, const char *key, bool required,
                     bool def, bool *out, nas_err *err) {
    const nas_cfg_node *n;
    int rc = keyed(cfg, map, key, required, &n, err);
    if (rc <= 0) { if (rc == 0) *out = def; return rc; }
    return nas_cfg_node_bool(cfg, n, key, out, err);
}

int nas_cfg_get_string(const nas_cfg *cfg, const nas_cfg_node *map, const char *key, bool required,
                       const char *def, const char **out, nas_err *err) {
    const nas_cfg_node *n;
    int rc = keyed(cfg, map, key, required, &n, err);
    if (rc <= 0) { if (rc == 0) *out = def; return rc; }
    return nas_cfg_node_string(cfg, n, key, out, err);
}

int nas_cfg_get_enum(const nas_cfg *cfg, const nas_cfg_node *map, const char *key, bool required,
                     const char *const *names, int def, int *out, nas_err *err) {
    const nas_cfg_node *n;
    int rc = keyed(cfg, map, key, required, &n, err);
    if (rc <= 0) { if (rc == 0) *out = def; return rc; }
    return nas_cfg_node_enum(cfg, n, key, names, out, err);
}
