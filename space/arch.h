/*
 * space/arch.h - the architecture IR: plain data describing one network.
 *
 * An architecture is an input resolution plus an ordered list of stages; the
 * stem and the final 1x1 conv are `conv` stages too. Global average pooling,
 * optional dropout and the fully connected classifier follow the last stage
 * implicitly. The IR is plain copyable data (no pointers) so that it can be
 * stored, sent and compared by value; every entry point (file, wire, DB)
 * validates it with nas_arch_validate before anything acts on it.
 *
 * Block semantics per kind (see shared/reference/models.md):
 *   conv      : depth x [conv k x k (stride on the first) -> BN -> act], no residual.
 *   xx/bl/dw  : GENet super-blocks; c_mid = round(width * ratio) (ratio is relative
 *               to the block OUTPUT); ReLU after the residual add; projection
 *               shortcut (1x1 conv stride s + BN) unless stride 1 and c_in == c_out.
 *   fused_irb : GPUNet Fused-IRB; c_mid = make_divisible(c_in * ratio); optional SE.
 *   irb       : GPUNet IRB (MBConv); c_mid = make_divisible(c_in * ratio); optional SE.
 * SE reduced width: rd = round(c_mid * 0.25 / ratio) (about c_in / 4).
 * Padding: NAS_PAD_SAME is ((s-1)+(k-1))/2; NAS_PAD_TIMM is GPUNet's Fused-IRB
 * quirk: zero padding when stride > 1, (k-1)/2 otherwise.
 *
 * Preset YAML (configs/models/NAME.yaml; the JSON form has the same keys minus
 * description):
 *   description: "text"            optional, documentation only
 *   resolution: 224                required
 *   in_channels: 3                 default 3
 *   classes: 1000                  default 1000
 *   bn_eps: 1.0e-5                 default 1e-5
 *   dropout: 0.0                   default 0
 *   stages:                        required, 1..NAS_ARCH_MAX_STAGES entries
 *     - {kind: irb, depth: 3, width: 256, stride: 2, kernel: 3,    required when depth > 0
 *        ratio: 5, act: swish, se: false, pad: same}               defaults 1, relu, false, same
 *     - {kind: irb, depth: 0}      an absent stage (keeps a space's layout)
 * Unknown keys, duplicate keys, anchors and aliases are errors.
 */
#ifndef NAS_SPACE_ARCH_H
#define NAS_SPACE_ARCH_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

#define NAS_ARCH_MAX_STAGES 24
#define NAS_ARCH_MAX_DEPTH 64
#define NAS_ARCH_MAX_WIDTH 16384
#define NAS_ARCH_MAX_RESOLUTION 1024

typedef enum {
    NAS_BLOCK_CONV = 0,
    NAS_BLOCK_XX,
    NAS_BLOCK_BL,
    NAS_BLOCK_DW,
    NAS_BLOCK_FUSED_IRB,
    NAS_BLOCK_IRB,
    NAS_BLOCK_COUNT
} nas_block_kind;

typedef enum { NAS_ACT_RELU = 0, NAS_ACT_SWISH, NAS_ACT_COUNT } nas_act;

typedef enum { NAS_PAD_SAME = 0, NAS_PAD_TIMM, NAS_PAD_COUNT } nas_pad;

typedef struct nas_stage {
    nas_block_kind kind;
    int depth;    /* layers in the stage; 0 means the stage is absent */
    int width;    /* output channels */
    int stride;   /* stride of the first layer (1 or 2) */
    int kernel;   /* odd kernel size */
    double ratio; /* xx/bl/dw: mid = round(width*ratio); irb/fused: expansion e; conv: unused (1) */
    nas_act act;
    bool se;      /* squeeze-excite (fused_irb/irb only) */
    nas_pad pad;
} nas_stage;

typedef struct nas_arch {
    int resolution;  /* input height = width */
    int in_channels; /* 3 for RGB, 1 for grey */
    int classes;
    double bn_eps;   /* 1e-5 (GENet) or 1e-3 (GPUNet) */
    double dropout;  /* before the classifier; 0 = none */
    int n_stages;
    nas_stage stages[NAS_ARCH_MAX_STAGES];
} nas_arch;

/* NULL-terminated name tables, indexed by the enums (for nas_cfg_node_enum). */
extern const char *const nas_block_kind_names[];
extern const char *const nas_act_names[];
extern const char *const nas_pad_names[];

/* Names as written in JSON/YAML: "conv","xx","bl","dw","fused_irb","irb". */
const char *nas_block_kind_name(nas_block_kind k);
int nas_block_kind_parse(const char *name); /* -1 if unknown */
const char *nas_act_name(nas_act a);         /* "relu","swish" */
int nas_act_parse(const char *name);
const char *nas_pad_name(nas_pad p);         /* "same","timm" */
int nas_pad_parse(const char *name);

/* Expanded (middle) width of layer with input c_in in stage s. */
int nas_stage_mid_width(const nas_stage *s, int c_in);
/* SE reduced width for a block with the given mid width (0 if no SE). */
int nas_stage_se_width(const nas_stage *s, int c_mid);
/* GPUNet/timm make_divisible(v, 8, round_limit 0.9). */
int nas_make_divisible(double v, int divisor);

/* Padding of the stage's k x k conv when it runs with the given stride
 * (stride is the stage stride on the first layer, 1 on the others). */
int nas_stage_padding(const nas_stage *s, int stride);
/* Output size of a conv: (in + 2*pad - kernel) / stride + 1 (may be <= 0). */
int nas_conv_out_size(int in, int kernel, int stride, int pad);

/* What the residual path of one layer is. conv stages have none; xx/bl/dw
 * always add (identity, or a 1x1 conv with the layer's stride + BN);
 * fused_irb/irb add an identity only when stride 1 and c_in == c_out. */
typedef enum { NAS_SHORTCUT_NONE = 0, NAS_SHORTCUT_IDENTITY, NAS_SHORTCUT_PROJECTION } nas_shortcut;
nas_shortcut nas_layer_shortcut(const nas_stage *s, int c_in, int stride);

/* Checks ranges and consistency; errors name the stage and field, e.g.
 * "stage 3 (irb): kernel 4 must be odd". */
int nas_arch_validate(const nas_arch *a, nas_err *err);

/* Puts the architecture into canonical form (fields that do not affect the
 * network, such as those of depth-0 stages or ratio/se of conv stages, get
 * fixed values) so that equal networks compare and hash equal. */
void nas_arch_canonicalize(nas_arch *a);

/* Canonical compact JSON with stable key order; malloc'd, caller frees.
 * Returns NULL only when out of memory. */
char *nas_arch_to_json(const nas_arch *a);

/* Parses and validates JSON (as produced by nas_arch_to_json; unknown keys are
 * errors). */
int nas_arch_from_json(const char *json, nas_arch *out, nas_err *err);

/* 64-bit identity: FNV-1a of the canonical JSON of the canonicalised arch. */
uint64_t nas_arch_hash(const nas_arch *a);

/* True if the canonical forms are equal. */
bool nas_arch_equal(const nas_arch *a, const nas_arch *b);

/* Loads a preset name (configs/models/NAME.yaml), a .yaml file or a .json file,
 * validated. Errors in YAML carry file:line:column. */
int nas_arch_load(const char *name_or_path, nas_arch *out, nas_err *err);

/* Reads an architecture from a parsed YAML node (a preset file's root, or a
 * `model:` mapping inside another config) and validates it; errors carry
 * file:line:column of the offending key. */
struct nas_cfg;
struct nas_cfg_node;
int nas_arch_from_cfg(const struct nas_cfg *cfg, const struct nas_cfg_node *node, nas_arch *out,
                      nas_err *err);

/* Total stride (product of stage strides of stages with depth > 0). */
int nas_arch_total_stride(const nas_arch *a);

#endif
