/*
 * space/arch.c - the architecture IR: names, width rules, validation,
 * canonical form, canonical JSON and identity hash.
 *
 * The IR is the one thing every subsystem agrees on, so this file is strict:
 * nas_arch_validate rejects settings that would be silently ignored elsewhere
 * (SE on a GENet block, Fused-IRB padding on an IRB), and every message names
 * the stage and the field so a user can fix a config without reading code.
 * Canonical form exists so that two descriptions of the same network hash
 * equal: only absent (depth 0) stages and the unused ratio of conv stages have
 * free fields, and canonicalisation pins them. Reading from YAML and from JSON
 * share the same defaults (see stage_defaults) and the same validation.
 */
#include "space/arch.h"

#include <assert.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/cfg.h"
#include "common/rng.h"
#include "common/util.h"

const char *const nas_block_kind_names[] = {"conv", "xx", "bl", "dw", "fused_irb", "irb", NULL};
const char *const nas_act_names[] = {"relu", "swish", NULL};
const char *const nas_pad_names[] = {"same", "timm", NULL};

/* Bounds that are not part of the public header: kernel sizes beyond 15 or a
 * ratio beyond 16 are typos in practice, and they keep widths far from int
 * overflow in the cost model. */
#define ARCH_MAX_KERNEL 15
#define ARCH_MAX_RATIO 16.0
#define ARCH_MAX_MID_WIDTH 65536
#define ARCH_MAX_CLASSES 100000
#define ARCH_MAX_IN_CHANNELS 64

static int name_parse(const char *const *names, const char *name) {
    if (!name) return -1;
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], name) == 0) return i;
    return -1;
}

const char *nas_block_kind_name(nas_block_kind k) {
    return (unsigned)k < NAS_BLOCK_COUNT ? nas_block_kind_names[k] : "?";
}
int nas_block_kind_parse(const char *name) { return name_parse(nas_block_kind_names, name); }
const char *nas_act_name(nas_act a) { return (unsigned)a < NAS_ACT_COUNT ? nas_act_names[a] : "?"; }
int nas_act_parse(const char *name) { return name_parse(nas_act_names, name); }
const char *nas_pad_name(nas_pad p) { return (unsigned)p < NAS_PAD_COUNT ? nas_pad_names[p] : "?"; }
int nas_pad_parse(const char *name) { return name_parse(nas_pad_names, name); }

/* Python's round() is round-half-to-even; nearbyint under the default
 * rounding mode is the same, so mid and SE widths match PyTorch exactly. */
static long py_round(double v) { return (long)nearbyint(v); }

int nas_make_divisible(double v, int divisor) {
    assert(divisor > 0);
    /* timm: new_v = max(divisor, int(v + divisor / 2) // divisor * divisor),
     * then one more step if that lost more than 10%. */
    long new_v = (long)(v + divisor / 2.0) / divisor * divisor;
    if (new_v < divisor) new_v = divisor;
    if ((double)new_v < 0.9 * v) new_v += divisor;
    return (int)new_v;
}

int nas_stage_mid_width(const nas_stage *s, int c_in) {
    switch (s->kind) {
    case NAS_BLOCK_XX:
    case NAS_BLOCK_BL:
    case NAS_BLOCK_DW: return (int)py_round((double)s->width * s->ratio);
    case NAS_BLOCK_FUSED_IRB:
    case NAS_BLOCK_IRB: return nas_make_divisible((double)c_in * s->ratio, 8);
    default: return s->width;
    }
}

int nas_stage_se_width(const nas_stage *s, int c_mid) {
    if (!s->se) return 0;
    return (int)py_round((double)c_mid * (0.25 / s->ratio));
}

int nas_stage_padding(const nas_stage *s, int stride) {
    if (s->pad == NAS_PAD_TIMM && stride > 1) return 0;
    return ((stride - 1) + (s->kernel - 1)) / 2;
}

int nas_conv_out_size(int in, int kernel, int stride, int pad) {
    int span = in + 2 * pad - kernel;
    if (span < 0) return 0;
    return span / stride + 1;
}

nas_shortcut nas_layer_shortcut(const nas_stage *s, int c_in, int stride) {
    switch (s->kind) {
    case NAS_BLOCK_XX:
    case NAS_BLOCK_BL:
    case NAS_BLOCK_DW:
        return stride == 1 && c_in == s->width ? NAS_SHORTCUT_IDENTITY : NAS_SHORTCUT_PROJECTION;
    case NAS_BLOCK_FUSED_IRB:
    case NAS_BLOCK_IRB:
        return stride == 1 && c_in == s->width ? NAS_SHORTCUT_IDENTITY : NAS_SHORTCUT_NONE;
    default: return NAS_SHORTCUT_NONE;
    }
}

int nas_arch_total_stride(const nas_arch *a) {
    int total = 1;
    for (int i = 0; i < a->n_stages; i++)
        if (a->stages[i].depth > 0) total *= a->stages[i].stride;
    return total;
}

/* ---- validation ------------------------------------------------------- */

/* Where validation failed: stage index (-1 for a top-level field) and field
 * name, so the YAML loader can point at the offending key. */
typedef struct bad_spot {
    int stage;
    const char *field;
} bad_spot;

static int stage_fail(nas_err *err, bad_spot *spot, const nas_arch *a, int i, const char *field,
                      int code, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static int stage_fail(nas_err *err, bad_spot *spot, const nas_arch *a, int i, const char *field,
                      int code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (spot) *spot = (bad_spot){i, field};
    if (i < 0) return nas_err_set(err, code, "%s", msg);
    return nas_err_set(err, code, "stage %d (%s): %s", i, nas_block_kind_name(a->stages[i].kind),
                       msg);
}

/* Checks one present stage; c_in and *hw are the input channels and size,
 * *hw becomes the output size. */
static int check_stage(const nas_arch *a, int i, int c_in, int *hw, nas_err *err, bad_spot *spot) {
    const nas_stage *s = &a->stages[i];
    if (s->depth < 0 || s->depth > NAS_ARCH_MAX_DEPTH)
        return stage_fail(err, spot, a, i, "depth", NAS_ERANGE, "depth %d is outside [0, %d]",
                          s->depth, NAS_ARCH_MAX_DEPTH);
    if (s->width < 1 || s->width > NAS_ARCH_MAX_WIDTH)
        return stage_fail(err, spot, a, i, "width", NAS_ERANGE, "width %d is outside [1, %d]",
                          s->width, NAS_ARCH_MAX_WIDTH);
    if (s->stride != 1 && s->stride != 2)
        return stage_fail(err, spot, a, i, "stride", NAS_ERANGE, "stride %d must be 1 or 2",
                          s->stride);
    if (s->kernel < 1 || s->kernel > ARCH_MAX_KERNEL)
        return stage_fail(err, spot, a, i, "kernel", NAS_ERANGE, "kernel %d is outside [1, %d]",
                          s->kernel, ARCH_MAX_KERNEL);
    if (s->kernel % 2 == 0)
        return stage_fail(err, spot, a, i, "kernel", NAS_EINVAL,
                          "kernel %d must be odd (padding is symmetric)", s->kernel);
    if ((unsigned)s->act >= NAS_ACT_COUNT)
        return stage_fail(err, spot, a, i, "act", NAS_EINVAL, "act %d is not relu or swish",
                          (int)s->act);
    if ((unsigned)s->pad >= NAS_PAD_COUNT)
        return stage_fail(err, spot, a, i, "pad", NAS_EINVAL, "pad %d is not same or timm",
                          (int)s->pad);
    if (!(s->ratio > 0.0 && s->ratio <= ARCH_MAX_RATIO))
        return stage_fail(err, spot, a, i, "ratio", NAS_ERANGE, "ratio %g is outside (0, %g]",
                          s->ratio, ARCH_MAX_RATIO);
    bool is_irb = s->kind == NAS_BLOCK_FUSED_IRB || s->kind == NAS_BLOCK_IRB;
    if (s->kind == NAS_BLOCK_CONV && s->ratio != 1.0)
        return stage_fail(err, spot, a, i, "ratio", NAS_EINVAL,
                          "ratio %g does not apply to conv stages; leave it out or set 1",
                          s->ratio);
    if (s->se && !is_irb)
        return stage_fail(err, spot, a, i, "se", NAS_EINVAL,
                          "squeeze-excite exists only in fused_irb and irb stages; set se: false");
    if (s->pad == NAS_PAD_TIMM && s->kind != NAS_BLOCK_FUSED_IRB)
        return stage_fail(err, spot, a, i, "pad", NAS_EINVAL,
                          "pad 'timm' (zero padding of strided convs) is GPUNet's Fused-IRB "
                          "quirk and applies only to fused_irb stages; use 'same'");
    for (int layer = 0; layer < s->depth; layer++) {
        int layer_in = layer == 0 ? c_in : s->width;
        int mid = nas_stage_mid_width(s, layer_in);
        if (mid < 1 || mid > ARCH_MAX_MID_WIDTH)
            return stage_fail(err, spot, a, i, "ratio", NAS_ERANGE,
                              "ratio %g gives a middle width of %d channels (must be 1..%d)",
                              s->ratio, mid, ARCH_MAX_MID_WIDTH);
        if (s->se && nas_stage_se_width(s, mid) < 1)
            return stage_fail(err, spot, a, i, "se", NAS_ERANGE,
                              "squeeze-excite of %d channels at ratio %g rounds to 0 channels; "
                              "disable se or widen the stage",
                              mid, s->ratio);
        int stride = layer == 0 ? s->stride : 1;
        int out = nas_conv_out_size(*hw, s->kernel, stride, nas_stage_padding(s, stride));
        if (out < 1)
            return stage_fail(err, spot, a, i, "resolution", NAS_ERANGE,
                              "the %dx%d input is too small for kernel %d stride %d; raise the "
                              "resolution or remove a stride-2 stage",
                              *hw, *hw, s->kernel, stride);
        *hw = out;
    }
    return 0;
}

static int arch_check(const nas_arch *a, nas_err *err, bad_spot *spot) {
    if (spot) *spot = (bad_spot){-1, NULL};
    if (a->resolution < 1 || a->resolution > NAS_ARCH_MAX_RESOLUTION)
        return stage_fail(err, spot, a, -1, "resolution", NAS_ERANGE,
                          "resolution %d is outside [1, %d]", a->resolution,
                          NAS_ARCH_MAX_RESOLUTION);
    if (a->in_channels < 1 || a->in_channels > ARCH_MAX_IN_CHANNELS)
        return stage_fail(err, spot, a, -1, "in_channels", NAS_ERANGE,
                          "in_channels %d is outside [1, %d]", a->in_channels,
                          ARCH_MAX_IN_CHANNELS);
    if (a->classes < 1 || a->classes > ARCH_MAX_CLASSES)
        return stage_fail(err, spot, a, -1, "classes", NAS_ERANGE, "classes %d is outside [1, %d]",
                          a->classes, ARCH_MAX_CLASSES);
    if (!(a->bn_eps > 0.0 && a->bn_eps < 1.0))
        return stage_fail(err, spot, a, -1, "bn_eps", NAS_ERANGE,
                          "bn_eps %g must be in (0, 1), e.g. 1e-5", a->bn_eps);
    if (!(a->dropout >= 0.0 && a->dropout < 1.0))
        return stage_fail(err, spot, a, -1, "dropout", NAS_ERANGE, "dropout %g must be in [0, 1)",
                          a->dropout);
    if (a->n_stages < 1 || a->n_stages > NAS_ARCH_MAX_STAGES)
        return stage_fail(err, spot, a, -1, "stages", NAS_ERANGE,
                          "an architecture has 1 to %d stages, not %d", NAS_ARCH_MAX_STAGES,
                          a->n_stages);
    int c_in = a->in_channels, hw = a->resolution, present = 0;
    for (int i = 0; i < a->n_stages; i++) {
        const nas_stage *s = &a->stages[i];
        if ((unsigned)s->kind >= NAS_BLOCK_COUNT)
            return stage_fail(err, spot, a, -1, "kind", NAS_EINVAL,
                              "stage %d: kind %d is not one of conv, xx, bl, dw, fused_irb, irb",
                              i, (int)s->kind);
        if (s->depth == 0) continue; /* absent: its other fields are ignored */
        int rc = check_stage(a, i, c_in, &hw, err, spot);
        if (rc) return rc;
        c_in = s->width;
        present++;
    }
    if (present == 0)
        return stage_fail(err, spot, a, -1, "stages", NAS_EINVAL,
                          "every stage has depth 0; at least one stage must be present");
    return 0;
}

int nas_arch_validate(const nas_arch *a, nas_err *err) { return arch_check(a, err, NULL); }

void nas_arch_canonicalize(nas_arch *a) {
    for (int i = 0; i < a->n_stages && i < NAS_ARCH_MAX_STAGES; i++) {
        nas_stage *s = &a->stages[i];
        if (s->depth == 0) {
            /* An absent stage is only a slot in the space; pin every field. */
            *s = (nas_stage){.kind = s->kind, .depth = 0, .width = 0, .stride = 1, .kernel = 1,
                             .ratio = 1.0, .act = NAS_ACT_RELU, .se = false, .pad = NAS_PAD_SAME};
            continue;
        }
        if (s->kind == NAS_BLOCK_CONV) s->ratio = 1.0;
        if (s->kind != NAS_BLOCK_FUSED_IRB && s->kind != NAS_BLOCK_IRB) s->se = false;
        if (s->kind != NAS_BLOCK_FUSED_IRB) s->pad = NAS_PAD_SAME;
    }
}

/* ---- JSON ------------------------------------------------------------- */

/* Formats a number exactly as cJSON 1.7 prints it (integers as %d, others as
 * %1.15g unless that reads back further than one DBL_EPSILON relative, then
 * %1.17g), so the canonical text,
 * which is the identity stored in databases, does not depend on who prints it. */
static int json_number(char *buf, size_t cap, double d) {
    if (!isfinite(d)) return snprintf(buf, cap, "null");
    if (d >= INT_MIN && d <= INT_MAX && d == (double)(int)d) return snprintf(buf, cap, "%d", (int)d);
    int n = snprintf(buf, cap, "%1.15g", d);
    double back = strtod(buf, NULL);
    if (fabs(back - d) > fmax(fabs(back), fabs(d)) * DBL_EPSILON) n = snprintf(buf, cap, "%1.17g", d);
    return n;
}

/* Upper bound of the canonical text: fixed keys, enum names, and numbers of at
 * most 26 characters each. */
#define ARCH_JSON_MAX (160 + NAS_ARCH_MAX_STAGES * 220)

/* A bounded appender for arch_json_write: plain copies and a hand-written
 * integer formatter, because snprintf with many arguments (glibc's
 * printf_positional) was the larger part of nasd's hashing time. */
typedef struct json_out {
    char *buf;
    size_t len;
} json_out;

static void out_str(json_out *o, const char *s) {
    size_t n = strlen(s);
    assert(o->len + n < ARCH_JSON_MAX);
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static void out_int(json_out *o, int v) {
    char digits[12];
    int n = 0;
    unsigned u = v < 0 ? 0u - (unsigned)v : (unsigned)v;
    do digits[n++] = (char)('0' + u % 10);
    while ((u /= 10) > 0);
    assert(o->len + (size_t)n + 1 < ARCH_JSON_MAX);
    if (v < 0) o->buf[o->len++] = '-';
    while (n > 0) o->buf[o->len++] = digits[--n];
}

static void out_number(json_out *o, double d) {
    if (d >= INT_MIN && d <= INT_MAX && d == (double)(int)d) {
        out_int(o, (int)d);
        return;
    }
    char n[32];
    json_number(n, sizeof n, d);
    out_str(o, n);
}

/* Writes the canonical JSON of an already canonical arch into buf (which holds
 * ARCH_JSON_MAX bytes) without allocating: nas_arch_hash runs in the
 * coordinator's hot path (duplicate checks on every proposal and result).
 * Returns the length; buf is NUL-terminated. */
static size_t arch_json_write(const nas_arch *c, char *buf) {
    json_out o = {buf, 0};
    out_str(&o, "{\"resolution\":");
    out_int(&o, c->resolution);
    out_str(&o, ",\"in_channels\":");
    out_int(&o, c->in_channels);
    out_str(&o, ",\"classes\":");
    out_int(&o, c->classes);
    out_str(&o, ",\"bn_eps\":");
    out_number(&o, c->bn_eps);
    out_str(&o, ",\"dropout\":");
    out_number(&o, c->dropout);
    out_str(&o, ",\"stages\":[");
    for (int i = 0; i < c->n_stages; i++) {
        const nas_stage *s = &c->stages[i];
        out_str(&o, i ? ",{\"kind\":\"" : "{\"kind\":\"");
        out_str(&o, nas_block_kind_name(s->kind));
        out_str(&o, "\",\"depth\":");
        out_int(&o, s->depth);
        out_str(&o, ",\"width\":");
        out_int(&o, s->width);
        out_str(&o, ",\"stride\":");
        out_int(&o, s->stride);
        out_str(&o, ",\"kernel\":");
        out_int(&o, s->kernel);
        out_str(&o, ",\"ratio\":");
        out_number(&o, s->ratio);
        out_str(&o, ",\"act\":\"");
        out_str(&o, nas_act_name(s->act));
        out_str(&o, s->se ? "\",\"se\":true,\"pad\":\"" : "\",\"se\":false,\"pad\":\"");
        out_str(&o, nas_pad_name(s->pad));
        out_str(&o, "\"}");
    }
    out_str(&o, "]}");
    buf[o.len] = '\0';
    return o.len;
}

char *nas_arch_to_json(const nas_arch *a) {
    nas_arch c = *a;
    nas_arch_canonicalize(&c);
    char buf[ARCH_JSON_MAX];
    size_t len = arch_json_write(&c, buf);
    char *text = malloc(len + 1);
    if (text) memcpy(text, buf, len + 1);
    return text;
}

/* Defaults shared by the YAML and JSON readers for optional stage keys. */
static nas_stage stage_defaults(void) {
    return (nas_stage){.kind = NAS_BLOCK_CONV, .depth = 1, .width = 0, .stride = 1, .kernel = 3,
                       .ratio = 1.0, .act = NAS_ACT_RELU, .se = false, .pad = NAS_PAD_SAME};
}

static void arch_defaults(nas_arch *a) {
    memset(a, 0, sizeof *a);
    a->in_channels = 3;
    a->classes = 1000;
    a->bn_eps = 1e-5;
    a->dropout = 0.0;
}

static const char *const top_keys[] = {"resolution", "in_channels", "classes", "bn_eps",
                                       "dropout",    "stages",      NULL};
/* Plus "description" in YAML presets, which documents the file only. */
static const char *const top_keys_yaml[] = {"description", "resolution", "in_channels", "classes",
                                            "bn_eps",      "dropout",    "stages",      NULL};
static const char *const stage_keys[] = {"kind",  "depth", "width", "stride", "kernel",
                                         "ratio", "act",   "se",    "pad",    NULL};
/* Keys a present stage must give; an absent (depth 0) stage needs only kind, depth. */
static const char *const stage_required[] = {"kind", "depth", "width", "stride", "kernel", NULL};

typedef struct json_ctx {
    const char *what; /* "stage 3" or "architecture" */
    nas_err *err;
} json_ctx;

static int json_check_keys(const cJSON *obj, const char *const *allowed, const char *what,
                           nas_err *err) {
    for (const cJSON *it = obj->child; it; it = it->next) {
        if (name_parse(allowed, it->string) < 0) {
            char list[256] = "";
            size_t used = 0;
            for (int i = 0; allowed[i]; i++) {
                int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", allowed[i]);
                if (w < 0 || (size_t)w >= sizeof list - used) break;
                used += (size_t)w;
            }
            return nas_err_set(err, NAS_EINVAL, "%s: unknown key '%s' (allowed: %s)", what,
                               it->string ? it->string : "", list);
        }
        for (const cJSON *prev = obj->child; prev != it; prev = prev->next)
            if (strcmp(prev->string, it->string) == 0)
                return nas_err_set(err, NAS_EINVAL, "%s: duplicate key '%s'", what, it->string);
    }
    return 0;
}

static int json_int(const cJSON *obj, const char *key, bool required, int def, int *out,
                    const json_ctx *c) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it) {
        if (required)
            return nas_err_set(c->err, NAS_EINVAL, "%s: missing required key '%s'", c->what, key);
        *out = def;
        return 0;
    }
    double v = cJSON_IsNumber(it) ? it->valuedouble : NAN;
    if (!(v == floor(v) && fabs(v) <= 1e9))
        return nas_err_set(c->err, NAS_EINVAL, "%s: '%s' must be an integer", c->what, key);
    *out = (int)v;
    return 0;
}

static int json_double(const cJSON *obj, const char *key, double def, double *out,
                       const json_ctx *c) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
        return nas_err_set(c->err, NAS_EINVAL, "%s: '%s' must be a number", c->what, key);
    *out = it->valuedouble;
    return 0;
}

static int json_enum(const cJSON *obj, const char *key, bool required, const char *const *names,
                     int def, int *out, const json_ctx *c) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it) {
        if (required)
            return nas_err_set(c->err, NAS_EINVAL, "%s: missing required key '%s'", c->what, key);
        *out = def;
        return 0;
    }
    int v = cJSON_IsString(it) ? name_parse(names, it->valuestring) : -1;
    if (v < 0) {
        char list[128] = "";
        size_t used = 0;
        for (int i = 0; names[i]; i++) {
            int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
            if (w < 0 || (size_t)w >= sizeof list - used) break;
            used += (size_t)w;
        }
        return nas_err_set(c->err, NAS_EINVAL, "%s: '%s' must be one of: %s", c->what, key, list);
    }
    *out = v;
    return 0;
}

static int json_stage(const cJSON *obj, int index, nas_stage *s, nas_err *err) {
    char what[32];
    snprintf(what, sizeof what, "stage %d", index);
    json_ctx c = {what, err};
    if (!cJSON_IsObject(obj)) return nas_err_set(err, NAS_EINVAL, "%s: expected an object", what);
    int rc = json_check_keys(obj, stage_keys, what, err);
    if (rc) return rc;
    *s = stage_defaults();
    int kind = 0, act = 0, pad = 0;
    if ((rc = json_enum(obj, "kind", true, nas_block_kind_names, 0, &kind, &c)) ||
        (rc = json_int(obj, "depth", true, 1, &s->depth, &c)))
        return rc;
    bool present = s->depth != 0;
    s->kind = (nas_block_kind)kind;
    if ((rc = json_int(obj, "width", present, 0, &s->width, &c)) ||
        (rc = json_int(obj, "stride", present, 1, &s->stride, &c)) ||
        (rc = json_int(obj, "kernel", present, 3, &s->kernel, &c)) ||
        (rc = json_double(obj, "ratio", 1.0, &s->ratio, &c)) ||
        (rc = json_enum(obj, "act", false, nas_act_names, NAS_ACT_RELU, &act, &c)) ||
        (rc = json_enum(obj, "pad", false, nas_pad_names, NAS_PAD_SAME, &pad, &c)))
        return rc;
    s->act = (nas_act)act;
    s->pad = (nas_pad)pad;
    const cJSON *se = cJSON_GetObjectItemCaseSensitive(obj, "se");
    if (se && !cJSON_IsBool(se))
        return nas_err_set(err, NAS_EINVAL, "%s: 'se' must be true or false", what);
    s->se = se && cJSON_IsTrue(se);
    return 0;
}

/* 1-based line and column of byte offset pos in text. */
static void text_position(const char *text, size_t pos, int *line, int *col) {
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < pos && text[i]; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

/* source names the text in a parse error ("file.json:3:14: ..."), or NULL. */
static int arch_from_json_text(const char *json, const char *source, nas_arch *out, nas_err *err) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(json, &end, 1);
    if (!root) {
        int line, col;
        text_position(json, end && end >= json ? (size_t)(end - json) : 0, &line, &col);
        if (source)
            return nas_err_set(err, NAS_EPARSE, "%s:%d:%d: malformed JSON near here", source, line,
                               col);
        return nas_err_set(err, NAS_EPARSE, "line %d column %d: malformed JSON near here", line, col);
    }
    nas_arch a;
    arch_defaults(&a);
    json_ctx c = {"architecture", err};
    int rc = 0;
    if (!cJSON_IsObject(root)) {
        rc = nas_err_set(err, NAS_EINVAL, "architecture: expected a JSON object");
        goto done;
    }
    if ((rc = json_check_keys(root, top_keys, "architecture", err)) ||
        (rc = json_int(root, "resolution", true, 0, &a.resolution, &c)) ||
        (rc = json_int(root, "in_channels", false, 3, &a.in_channels, &c)) ||
        (rc = json_int(root, "classes", false, 1000, &a.classes, &c)) ||
        (rc = json_double(root, "bn_eps", 1e-5, &a.bn_eps, &c)) ||
        (rc = json_double(root, "dropout", 0.0, &a.dropout, &c)))
        goto done;
    const cJSON *stages = cJSON_GetObjectItemCaseSensitive(root, "stages");
    if (!cJSON_IsArray(stages)) {
        rc = nas_err_set(err, NAS_EINVAL, "architecture: 'stages' must be a list of stages");
        goto done;
    }
    int n = cJSON_GetArraySize(stages);
    if (n < 1 || n > NAS_ARCH_MAX_STAGES) {
        rc = nas_err_set(err, NAS_ERANGE, "architecture: %d stages given; 1 to %d are allowed", n,
                         NAS_ARCH_MAX_STAGES);
        goto done;
    }
    a.n_stages = n;
    int i = 0;
    for (const cJSON *st = stages->child; st; st = st->next, i++)
        if ((rc = json_stage(st, i, &a.stages[i], err))) goto done;
    if ((rc = nas_arch_validate(&a, err))) goto done;
    *out = a;
done:
    cJSON_Delete(root);
    if (rc && source) nas_err_prefix(err, "%s", source);
    return rc;
}

int nas_arch_from_json(const char *json, nas_arch *out, nas_err *err) {
    return arch_from_json_text(json, NULL, out, err);
}

uint64_t nas_arch_hash(const nas_arch *a) {
    nas_arch c = *a;
    nas_arch_canonicalize(&c);
    char buf[ARCH_JSON_MAX];
    size_t len = arch_json_write(&c, buf);
    return nas_hash64(buf, len);
}

bool nas_arch_equal(const nas_arch *a, const nas_arch *b) {
    nas_arch ca = *a, cb = *b;
    nas_arch_canonicalize(&ca);
    nas_arch_canonicalize(&cb);
    if (ca.resolution != cb.resolution || ca.in_channels != cb.in_channels ||
        ca.classes != cb.classes || ca.bn_eps != cb.bn_eps || ca.dropout != cb.dropout ||
        ca.n_stages != cb.n_stages)
        return false;
    for (int i = 0; i < ca.n_stages; i++) {
        const nas_stage *x = &ca.stages[i], *y = &cb.stages[i];
        if (x->kind != y->kind || x->depth != y->depth || x->width != y->width ||
            x->stride != y->stride || x->kernel != y->kernel || x->ratio != y->ratio ||
            x->act != y->act || x->se != y->se || x->pad != y->pad)
            return false;
    }
    return true;
}

/* ---- YAML ------------------------------------------------------------- */

/* Position of the key named field in map (or the map itself) for errors. */
static const nas_cfg_node *field_node(const nas_cfg_node *map, const char *field) {
    const nas_cfg_node *n = field ? nas_cfg_get(map, field) : NULL;
    return n ? n : map;
}

static int yaml_int(const nas_cfg *cfg, const nas_cfg_node *map, const char *key, bool required,
                    long def, long min, long max, const char *what, int *out, nas_err *err) {
    const nas_cfg_node *n = nas_cfg_get(map, key);
    if (!n) {
        if (required)
            return nas_cfg_error(cfg, map, err, NAS_EINVAL, "%s: missing required key '%s'", what,
                                 key);
        *out = (int)def;
        return 0;
    }
    char label[64];
    snprintf(label, sizeof label, "%s %s", what, key);
    long v;
    int rc = nas_cfg_node_int(cfg, n, label, min, max, &v, err);
    if (!rc) *out = (int)v;
    return rc;
}

static int yaml_stage(const nas_cfg *cfg, const nas_cfg_node *map, int index, nas_stage *s,
                      nas_err *err) {
    char what[32];
    snprintf(what, sizeof what, "stage %d", index);
    int rc = nas_cfg_check_keys(cfg, map, stage_keys, what, err);
    if (rc) return rc;
    *s = stage_defaults();
    char label[64];
    int kind;
    snprintf(label, sizeof label, "%s kind", what);
    const nas_cfg_node *kn = nas_cfg_get(map, "kind");
    if (!kn) return nas_cfg_error(cfg, map, err, NAS_EINVAL, "%s: missing required key 'kind'", what);
    if ((rc = nas_cfg_node_enum(cfg, kn, label, nas_block_kind_names, &kind, err))) return rc;
    s->kind = (nas_block_kind)kind;
    if ((rc = yaml_int(cfg, map, "depth", true, 1, 0, NAS_ARCH_MAX_DEPTH, what, &s->depth, err)))
        return rc;
    bool present = s->depth != 0;
    if (present)
        for (int i = 0; stage_required[i]; i++)
            if (!nas_cfg_get(map, stage_required[i]))
                return nas_cfg_error(cfg, map, err, NAS_EINVAL, "%s (%s): missing required key '%s'",
                                     what, nas_block_kind_name(s->kind), stage_required[i]);
    if ((rc = yaml_int(cfg, map, "width", false, 0, 0, NAS_ARCH_MAX_WIDTH, what, &s->width, err)) ||
        (rc = yaml_int(cfg, map, "stride", false, 1, 1, 2, what, &s->stride, err)) ||
        (rc = yaml_int(cfg, map, "kernel", false, 3, 1, ARCH_MAX_KERNEL, what, &s->kernel, err)))
        return rc;
    const nas_cfg_node *n;
    if ((n = nas_cfg_get(map, "ratio"))) {
        snprintf(label, sizeof label, "%s ratio", what);
        if ((rc = nas_cfg_node_double(cfg, n, label, 1e-6, ARCH_MAX_RATIO, &s->ratio, err))) return rc;
    }
    int act = NAS_ACT_RELU, pad = NAS_PAD_SAME;
    if ((n = nas_cfg_get(map, "act"))) {
        snprintf(label, sizeof label, "%s act", what);
        if ((rc = nas_cfg_node_enum(cfg, n, label, nas_act_names, &act, err))) return rc;
    }
    if ((n = nas_cfg_get(map, "pad"))) {
        snprintf(label, sizeof label, "%s pad", what);
        if ((rc = nas_cfg_node_enum(cfg, n, label, nas_pad_names, &pad, err))) return rc;
    }
    s->act = (nas_act)act;
    s->pad = (nas_pad)pad;
    if ((n = nas_cfg_get(map, "se"))) {
        snprintf(label, sizeof label, "%s se", what);
        if ((rc = nas_cfg_node_bool(cfg, n, label, &s->se, err))) return rc;
    }
    return 0;
}

int nas_arch_from_cfg(const nas_cfg *cfg, const nas_cfg_node *root, nas_arch *out, nas_err *err) {
    if (!root) return nas_cfg_error(cfg, NULL, err, NAS_EINVAL, "empty file; expected a model with resolution and stages");
    int rc = nas_cfg_check_keys(cfg, root, top_keys_yaml, "model", err);
    if (rc) return rc;
    nas_arch a;
    arch_defaults(&a);
    const nas_cfg_node *d = nas_cfg_get(root, "description");
    const char *unused;
    if (d && (rc = nas_cfg_node_string(cfg, d, "description", &unused, err))) return rc;
    if ((rc = yaml_int(cfg, root, "resolution", true, 0, 1, NAS_ARCH_MAX_RESOLUTION, "model",
                       &a.resolution, err)) ||
        (rc = yaml_int(cfg, root, "in_channels", false, 3, 1, ARCH_MAX_IN_CHANNELS, "model",
                       &a.in_channels, err)) ||
        (rc = yaml_int(cfg, root, "classes", false, 1000, 1, ARCH_MAX_CLASSES, "model", &a.classes,
                       err)) ||
        (rc = nas_cfg_get_double(cfg, root, "bn_eps", false, 1e-5, 1e-12, 0.5, &a.bn_eps, err)) ||
        (rc = nas_cfg_get_double(cfg, root, "dropout", false, 0.0, 0.0, 0.99, &a.dropout, err)))
        return rc;
    const nas_cfg_node *stages = nas_cfg_get(root, "stages");
    if (!stages)
        return nas_cfg_error(cfg, root, err, NAS_EINVAL, "model: missing required key 'stages'");
    if ((rc = nas_cfg_expect(cfg, stages, NAS_CFG_SEQ, "model stages", err))) return rc;
    if (stages->n < 1 || stages->n > NAS_ARCH_MAX_STAGES)
        return nas_cfg_error(cfg, stages, err, NAS_ERANGE, "model stages: %zu given; 1 to %d allowed",
                             stages->n, NAS_ARCH_MAX_STAGES);
    a.n_stages = (int)stages->n;
    for (size_t i = 0; i < stages->n; i++)
        if ((rc = yaml_stage(cfg, stages->items[i], (int)i, &a.stages[i], err))) return rc;
    bad_spot spot;
    nas_err verr;
    if ((rc = arch_check(&a, &verr, &spot))) {
        const nas_cfg_node *at = spot.stage >= 0
                                     ? field_node(stages->items[spot.stage], spot.field)
                                     : field_node(root, spot.field);
        return nas_cfg_error(cfg, at, err, rc, "%s", verr.msg);
    }
    *out = a;
    return 0;
}

static bool has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int nas_arch_load(const char *name_or_path, nas_arch *out, nas_err *err) {
    char *path = NULL;
    int rc = nas_config_resolve(name_or_path, "models", &path, err);
    if (rc) return rc;
    if (has_suffix(path, ".json")) {
        char *text = NULL;
        rc = nas_read_file(path, (size_t)1 << 20, &text, NULL, err);
        if (!rc) rc = arch_from_json_text(text, path, out, err);
        free(text);
        free(path);
        return rc;
    }
    nas_cfg *cfg = NULL;
    rc = nas_cfg_load_file(path, &cfg, err);
    if (!rc) rc = nas_arch_from_cfg(cfg, cfg->root, out, err);
    nas_cfg_free(&cfg);
    free(path);
    return rc;
}
