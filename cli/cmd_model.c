/*
 * cli/cmd_model.c - `nas model info|list`: what a network costs, per layer.
 *
 * A thin front end over space/cost.h: load a preset or file (the loader's
 * errors already carry file:line:column), compute the cost, print a
 * torchinfo-like table or JSON. Nothing here knows block semantics; the layer
 * list comes from nas_cost_compute, so the table is the cost model's own view.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/commands.h"
#include "common/cfg.h"
#include "common/util.h"
#include "space/arch.h"
#include "space/cost.h"

static void model_usage(FILE *out) {
    fprintf(out,
            "usage: nas model info <preset|file.yaml|file.json> [--resolution R] [--blocks] [--json]\n"
            "       nas model list [--json]\n"
            "\n"
            "info   prints every conv/fc layer of the network: input -> output shape (CxHxW),\n"
            "       kernel/stride/groups, parameters and multiply-accumulates (MACs), then the\n"
            "       totals. Parameters include BatchNorm weight and bias (a conv row includes\n"
            "       the BN after it); MACs count conv and linear layers only.\n"
            "  --resolution R  input height = width R instead of the model's own (1..%d)\n"
            "  --blocks        one row per block (residual layer) instead of per conv\n"
            "  --json          machine-readable output (the canonical architecture, totals, layers)\n"
            "list   the presets in %s/models/ with their parameters and MACs\n"
            "\n"
            "examples:\n"
            "  nas model info genet-large\n"
            "  nas model info gpunet-0 --resolution 224 --json\n"
            "  nas model list\n",
            NAS_ARCH_MAX_RESOLUTION, nas_config_dir());
}

/* 31078280 -> "31,078,280" into buf. */
static const char *thousands(long long v, char *buf, size_t size) {
    char digits[32];
    snprintf(digits, sizeof digits, "%lld", v < 0 ? -v : v);
    size_t n = strlen(digits), o = 0;
    if (v < 0 && o + 1 < size) buf[o++] = '-';
    for (size_t i = 0; i < n && o + 1 < size; i++) {
        if (i > 0 && (n - i) % 3 == 0 && o + 1 < size) buf[o++] = ',';
        if (o + 1 < size) buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

static void print_totals(const nas_arch *a, const nas_cost *c) {
    char buf[40];
    printf("Total params: %s\n", thousands(c->params, buf, sizeof buf));
    printf("Total MACs: %.4f G (%s)\n", (double)c->macs / 1e9, thousands(c->macs, buf, sizeof buf));
    printf("Activation memory: %s elements per image = %.2f MiB in fp32 "
           "(sum of layer outputs; BN and activations in place)\n",
           thousands(c->activation_elems, buf, sizeof buf),
           (double)c->activation_elems * 4.0 / (1024.0 * 1024.0));
    printf("Architecture hash: %016llx (identity of the canonical JSON)\n",
           (unsigned long long)nas_arch_hash(a));
}

/* Length of the block prefix "stages.I.J" of a layer name, 0 if none. */
static size_t block_prefix_len(const char *name) {
    if (strncmp(name, "stages.", 7) != 0) return 0;
    const char *dot = strchr(name + 7, '.');
    if (!dot) return 0;
    dot = strchr(dot + 1, '.');
    return dot ? (size_t)(dot - name) : 0;
}

static void print_table(const nas_arch *a, const char *title, const char *path, const nas_cost *c,
                        bool blocks) {
    printf("%s (%s): input %dx%dx%d, %d classes, bn_eps %g, dropout %g\n", title, path,
           a->in_channels, a->resolution, a->resolution, a->classes, a->bn_eps, a->dropout);
    printf("%-26s %-8s %-14s    %-14s %-10s %12s %15s\n", "Layer", "Op", "Input", "Output",
           blocks ? "" : "k/s/g", "Params", "MACs");
    char pbuf[40], mbuf[40], in[32], out[32], ksg[32];
    for (int i = 0; i < c->n_layers;) {
        const nas_layer_cost *l = &c->layers[i];
        size_t plen = blocks ? block_prefix_len(l->name) : 0;
        int j = i + 1;
        long long params = l->params, macs = l->macs;
        int c_out = l->c_out, h_out = l->h_out, w_out = l->w_out;
        const char *op = l->op;
        if (plen) {
            /* Merge the block's layers; the output is the last non-shortcut
             * layer's (the shortcut's output has the same shape anyway). */
            for (; j < c->n_layers && block_prefix_len(c->layers[j].name) == plen &&
                   strncmp(c->layers[j].name, l->name, plen) == 0;
                 j++) {
                params += c->layers[j].params;
                macs += c->layers[j].macs;
                if (strstr(c->layers[j].name, ".shortcut")) continue;
                c_out = c->layers[j].c_out;
                h_out = c->layers[j].h_out;
                w_out = c->layers[j].w_out;
            }
            op = "block";
        }
        snprintf(in, sizeof in, "%dx%dx%d", l->c_in, l->h_in, l->w_in);
        snprintf(out, sizeof out, "%dx%dx%d", c_out, h_out, w_out);
        if (plen)
            ksg[0] = '\0';
        else
            snprintf(ksg, sizeof ksg, "%d/%d/%d", l->kernel, l->stride, l->groups);
        printf("%-26.*s %-8s %-14s -> %-14s %-10s %12s %15s\n", plen ? (int)plen : 63, l->name, op,
               in, out, ksg, thousands(params, pbuf, sizeof pbuf),
               thousands(macs, mbuf, sizeof mbuf));
        i = j;
    }
    print_totals(a, c);
}

static cJSON *cost_json(const nas_arch *a, const char *name, const char *path, const nas_cost *c) {
    char *arch_text = nas_arch_to_json(a);
    cJSON *root = cJSON_CreateObject();
    cJSON *arch = arch_text ? cJSON_Parse(arch_text) : NULL;
    free(arch_text);
    char hash[20];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)nas_arch_hash(a));
    if (!root || !arch) {
        cJSON_Delete(root);
        cJSON_Delete(arch);
        return NULL;
    }
    cJSON_AddStringToObject(root, "model", name);
    cJSON_AddStringToObject(root, "source", path);
    cJSON_AddStringToObject(root, "hash", hash);
    cJSON_AddItemToObject(root, "arch", arch);
    cJSON_AddNumberToObject(root, "params", (double)c->params);
    cJSON_AddNumberToObject(root, "macs", (double)c->macs);
    cJSON_AddNumberToObject(root, "activation_elems", (double)c->activation_elems);
    cJSON *layers = cJSON_AddArrayToObject(root, "layers");
    for (int i = 0; layers && i < c->n_layers; i++) {
        const nas_layer_cost *l = &c->layers[i];
        cJSON *o = cJSON_CreateObject();
        if (!o) break;
        cJSON_AddItemToArray(layers, o);
        cJSON_AddStringToObject(o, "name", l->name);
        cJSON_AddStringToObject(o, "op", l->op);
        int in_shape[3] = {l->c_in, l->h_in, l->w_in}, out_shape[3] = {l->c_out, l->h_out, l->w_out};
        cJSON_AddItemToObject(o, "in", cJSON_CreateIntArray(in_shape, 3));
        cJSON_AddItemToObject(o, "out", cJSON_CreateIntArray(out_shape, 3));
        cJSON_AddNumberToObject(o, "kernel", l->kernel);
        cJSON_AddNumberToObject(o, "stride", l->stride);
        cJSON_AddNumberToObject(o, "groups", l->groups);
        cJSON_AddNumberToObject(o, "padding", l->padding);
        cJSON_AddNumberToObject(o, "params", (double)l->params);
        cJSON_AddNumberToObject(o, "macs", (double)l->macs);
        cJSON_AddNumberToObject(o, "out_elems", (double)l->out_elems);
    }
    return root;
}

static int print_json(cJSON *obj) {
    char *text = obj ? cJSON_Print(obj) : NULL;
    if (!text) {
        fprintf(stderr, "nas model: out of memory\n");
        return 1;
    }
    printf("%s\n", text);
    free(text);
    return 0;
}

static int model_info(int argc, char **argv) {
    const char *model = NULL;
    long resolution = 0;
    bool json = false, blocks = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            model_usage(stdout);
            return 0;
        } else if (strcmp(arg, "--json") == 0) {
            json = true;
        } else if (strcmp(arg, "--blocks") == 0) {
            blocks = true;
        } else if (strcmp(arg, "--resolution") == 0 || strncmp(arg, "--resolution=", 13) == 0) {
            const char *value = arg[12] == '=' ? arg + 13 : (i + 1 < argc ? argv[++i] : NULL);
            char *end = NULL;
            errno = 0;
            resolution = value ? strtol(value, &end, 10) : 0;
            if (!value || *end != '\0' || end == value || errno || resolution < 1 ||
                resolution > NAS_ARCH_MAX_RESOLUTION) {
                fprintf(stderr, "nas model info: --resolution needs an integer in [1, %d], got '%s'\n",
                        NAS_ARCH_MAX_RESOLUTION, value ? value : "(nothing)");
                return 2;
            }
        } else if (arg[0] == '-') {
            fprintf(stderr, "nas model info: unknown option '%s' (see nas model --help)\n", arg);
            return 2;
        } else if (model) {
            fprintf(stderr, "nas model info: one model at a time; got '%s' and '%s'\n", model, arg);
            return 2;
        } else {
            model = arg;
        }
    }
    if (!model) {
        fprintf(stderr, "nas model info: which model? give a preset name (nas model list) or a "
                        ".yaml/.json file\n");
        return 2;
    }
    nas_err err;
    nas_arch arch;
    char *path = NULL;
    if (nas_config_resolve(model, "models", &path, &err) || nas_arch_load(path, &arch, &err)) {
        fprintf(stderr, "nas model info: %s\n", err.msg);
        free(path);
        return 1;
    }
    if (resolution > 0) arch.resolution = (int)resolution;
    nas_cost cost;
    if (nas_cost_compute(&arch, 0, &cost, &err)) {
        fprintf(stderr, "nas model info: %s: %s\n", model, err.msg);
        free(path);
        return 1;
    }
    int rc = 0;
    if (json) {
        cJSON *obj = cost_json(&arch, model, path, &cost);
        rc = print_json(obj);
        cJSON_Delete(obj);
    } else {
        print_table(&arch, model, path, &cost, blocks);
    }
    nas_cost_release(&cost);
    free(path);
    return rc;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted preset names (file names without .yaml) in <config dir>/models. */
static int preset_names(char ***out, int *count, char **dir_out) {
    *out = NULL;
    *count = 0;
    nas_sb sb = {0};
    nas_sb_printf(&sb, "%s/models", nas_config_dir());
    char *dir = nas_sb_take(&sb);
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d) {
        fprintf(stderr, "nas model list: cannot open %s: %s (set NAS_CONFIG_DIR)\n",
                dir ? dir : "models", strerror(errno));
        free(dir);
        return 1;
    }
    char **names = NULL;
    int n = 0, rc = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len <= 5 || strcmp(e->d_name + len - 5, ".yaml") != 0 || e->d_name[0] == '.') continue;
        char **grown = realloc(names, (size_t)(n + 1) * sizeof *names);
        char *name = grown ? strndup(e->d_name, len - 5) : NULL;
        if (grown) names = grown;
        if (!name) {
            rc = 1;
            break;
        }
        names[n++] = name;
    }
    closedir(d);
    if (n > 1) qsort(names, (size_t)n, sizeof *names, compare_names);
    *out = names;
    *count = n;
    *dir_out = dir;
    if (rc) fprintf(stderr, "nas model list: out of memory\n");
    return rc;
}

static int model_list(int argc, char **argv) {
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            model_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else {
            fprintf(stderr, "nas model list: unexpected argument '%s' (see nas model --help)\n",
                    argv[i]);
            return 2;
        }
    }
    char **names = NULL, *dir = NULL;
    int n = 0, rc = preset_names(&names, &n, &dir);
    cJSON *list = json ? cJSON_CreateArray() : NULL;
    if (!rc && !json)
        printf("%-16s %10s %14s %10s  %s\n", "Preset", "Resolution", "Params", "MACs (G)",
               "Description");
    for (int i = 0; !rc && i < n; i++) {
        nas_sb sb = {0};
        nas_sb_printf(&sb, "%s/%s.yaml", dir, names[i]);
        char *path = nas_sb_take(&sb);
        nas_arch arch;
        nas_cost cost;
        nas_err err;
        if (!path || nas_arch_load(path, &arch, &err) || nas_cost_compute(&arch, 0, &cost, &err)) {
            fprintf(stderr, "nas model list: %s\n", path ? err.msg : "out of memory");
            free(path);
            rc = 1;
            break;
        }
        char buf[40];
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddItemToArray(list, o);
            cJSON_AddStringToObject(o, "name", names[i]);
            cJSON_AddStringToObject(o, "source", path);
            cJSON_AddNumberToObject(o, "resolution", arch.resolution);
            cJSON_AddNumberToObject(o, "params", (double)cost.params);
            cJSON_AddNumberToObject(o, "macs", (double)cost.macs);
        } else {
            /* The description is documentation only; a preset without one still lists. */
            nas_cfg *cfg = NULL;
            const char *desc = "";
            if (nas_cfg_load_file(path, &cfg, &err) == 0)
                nas_cfg_get_string(cfg, cfg->root, "description", false, "", &desc, &err);
            printf("%-16s %10d %14s %10.4f  %s\n", names[i], arch.resolution,
                   thousands(cost.params, buf, sizeof buf), (double)cost.macs / 1e9,
                   desc ? desc : "");
            nas_cfg_free(&cfg);
        }
        nas_cost_release(&cost);
        free(path);
    }
    if (!rc && json) rc = print_json(list);
    cJSON_Delete(list);
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    free(dir);
    return rc;
}

int nas_cmd_model(int argc, char **argv) {
    if (argc < 2) {
        model_usage(stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0) {
        model_usage(stdout);
        return 0;
    }
    if (strcmp(sub, "info") == 0) return model_info(argc - 1, argv + 1);
    if (strcmp(sub, "list") == 0) return model_list(argc - 1, argv + 1);
    fprintf(stderr, "nas model: unknown subcommand '%s'; use 'info' or 'list' (nas model --help)\n",
            sub);
    return 2;
}
