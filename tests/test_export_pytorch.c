/*
 * tests/test_export_pytorch.c - the PyTorch export builds the same network.
 *
 * Writes the Python file for every shipped preset (GENet light/normal/large,
 * GPUNet-0/1/2) and for a small architecture that uses every block kind, SE,
 * swish, one input channel and dropout, then runs Debian's python3-torch on
 * them in one process: each module must build, have exactly the trainable
 * parameter count of nas_cost_compute, produce the feature-map size the cost
 * model predicts before pooling (this catches the GPUNet stride-2 Fused-IRB
 * zero padding) and [batch, classes] logits. The same driver writes a
 * safetensors file of random weights and checks that load_checkpoint (with
 * the built-in reader) restores them, and that truncated or mismatched files
 * fail with a message. Finally the strongest check: a checkpoint written by
 * our trainer (trainer/checkpoint.c, CPU backend, BN statistics and weights
 * perturbed away from their initial values) loads into the exported module,
 * which must then compute the same logits as our CPU forward pass.
 *
 * /usr/bin/python3 is called explicitly because the python3 on PATH may be a
 * pyenv interpreter without torch. The test skips, saying so, only when torch
 * cannot be imported there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/export_pytorch.h"
#include "common/rng.h"
#include "space/cost.h"
#include "trainer/backend.h"
#include "trainer/checkpoint.h"
#include "trainer/graph.h"

#define SYSTEM_PYTHON "/usr/bin/python3"

/* Loads each module file given on the command line, builds it and prints
 * one line per module: params, feature map C H W, logits shape; then checks
 * the checkpoint round trip on the first module. */
static const char driver_py[] =
    "import importlib.util, struct, json, sys, os\n"
    "import torch\n"
    "torch.manual_seed(0)\n"
    "def load(path):\n"
    "    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)\n"
    "    mod = importlib.util.module_from_spec(spec)\n"
    "    spec.loader.exec_module(mod)\n"
    "    return mod\n"
    "def write_safetensors(path, tensors):\n"
    "    header, blobs, offset = {}, [], 0\n"
    "    for name, t in tensors.items():\n"
    "        raw = t.contiguous().numpy().tobytes()\n"
    "        header[name] = {'dtype': 'F32', 'shape': list(t.shape),\n"
    "                        'data_offsets': [offset, offset + len(raw)]}\n"
    "        blobs.append(raw)\n"
    "        offset += len(raw)\n"
    "    text = json.dumps(header).encode()\n"
    "    with open(path, 'wb') as f:\n"
    "        f.write(struct.pack('<Q', len(text)) + text + b''.join(blobs))\n"
    "for path in sys.argv[1:]:\n"
    "    mod = load(path)\n"
    "    model = mod.build_model().eval()\n"
    "    params = sum(p.numel() for p in model.parameters() if p.requires_grad)\n"
    "    seen = []\n"
    "    model.stages[-1].register_forward_hook(lambda m, i, o: seen.append(o))\n"
    "    with torch.no_grad():\n"
    "        x = torch.randn(2, mod.IN_CHANNELS, mod.RESOLUTION, mod.RESOLUTION)\n"
    "        logits = model(x)\n"
    "    feats = seen[0]\n"
    "    print('module %s params %d features %d %d %d logits %d %d' % (os.path.basename(path),\n"
    "          params, feats.shape[1], feats.shape[2], feats.shape[3], logits.shape[0],\n"
    "          logits.shape[1]))\n"
    "mod = load(sys.argv[1])\n"
    "source = mod.build_model()\n"
    "state = {k: torch.randn(v.shape) for k, v in source.state_dict().items()\n"
    "         if not k.endswith('num_batches_tracked')}\n"
    "ck = os.path.join(os.path.dirname(sys.argv[1]), 'ck.safetensors')\n"
    "write_safetensors(ck, state)\n"
    "restored = mod.load_checkpoint(ck)\n"
    "got = restored.state_dict()\n"
    "same = all(torch.equal(got[k], v) for k, v in state.items())\n"
    "print('roundtrip %s tensors %d' % ('ok' if same else 'differs', len(state)))\n"
    "with open(ck, 'rb') as f:\n"
    "    blob = f.read()\n"
    "with open(ck, 'wb') as f:\n"
    "    f.write(blob[:len(blob) // 2])\n"
    "try:\n"
    "    mod.load_checkpoint(ck)\n"
    "    print('truncated accepted')\n"
    "except ValueError as e:\n"
    "    print('truncated rejected: %s' % e)\n"
    "first = next(iter(state))\n"
    "del state[first]\n"
    "write_safetensors(ck, state)\n"
    "try:\n"
    "    mod.load_checkpoint(ck)\n"
    "    print('incomplete accepted')\n"
    "except KeyError as e:\n"
    "    print('incomplete rejected: %s' % e)\n";

typedef struct expected_module {
    char file[64];
    int64_t params;
    int features_c, features_hw;
    int classes;
} expected_module;

static bool system_torch_available(void) {
    return system(SYSTEM_PYTHON " -c 'import torch' >/dev/null 2>&1") == 0;
}

/* Exports `a` into dir/file and records what the cost model expects of it. */
static void export_and_expect(const nas_arch *a, const char *dir, const char *file,
                              expected_module *expect) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    nas_err err = {0};
    int rc = nas_export_pytorch(a, out, &err);
    assert_int_equal(fclose(out), 0);
    if (rc != 0) fail_msg("export of %s failed: %s", file, err.msg);

    nas_cost cost;
    rc = nas_cost_compute(a, 0, &cost, &err);
    if (rc != 0) fail_msg("cost of %s failed: %s", file, err.msg);
    snprintf(expect->file, sizeof expect->file, "%s", file);
    expect->params = cost.params;
    expect->classes = a->classes;
    expect->features_c = -1;
    for (int i = 0; i < cost.n_layers; i++) {
        if (strcmp(cost.layers[i].op, "avgpool") == 0) {
            expect->features_c = cost.layers[i].c_in;
            expect->features_hw = cost.layers[i].h_in;
        }
    }
    nas_cost_release(&cost);
    assert_true(expect->features_c > 0);
}

/* A 1-channel 32x32 network with every block kind, SE, swish, timm padding
 * and dropout, small enough to build in milliseconds. */
static nas_arch every_block_kind_arch(void) {
    nas_arch a = {.resolution = 32, .in_channels = 1, .classes = 10, .bn_eps = 1e-3,
                  .dropout = 0.1};
    const nas_stage stages[] = {
        {NAS_BLOCK_CONV, 1, 16, 2, 3, 1.0, NAS_ACT_SWISH, false, NAS_PAD_SAME},
        {NAS_BLOCK_XX, 2, 24, 1, 3, 1.0, NAS_ACT_RELU, false, NAS_PAD_SAME},
        {NAS_BLOCK_FUSED_IRB, 2, 24, 2, 3, 4.0, NAS_ACT_SWISH, true, NAS_PAD_TIMM},
        {NAS_BLOCK_BL, 2, 32, 2, 3, 0.25, NAS_ACT_RELU, false, NAS_PAD_SAME},
        {NAS_BLOCK_IRB, 0, 32, 1, 3, 2.0, NAS_ACT_RELU, false, NAS_PAD_SAME},
        {NAS_BLOCK_IRB, 2, 40, 1, 5, 3.0, NAS_ACT_RELU, true, NAS_PAD_SAME},
        {NAS_BLOCK_DW, 2, 48, 2, 5, 2.0, NAS_ACT_RELU, false, NAS_PAD_SAME},
        {NAS_BLOCK_CONV, 1, 64, 1, 1, 1.0, NAS_ACT_RELU, false, NAS_PAD_SAME},
    };
    a.n_stages = (int)(sizeof stages / sizeof stages[0]);
    memcpy(a.stages, stages, sizeof stages);
    return a;
}

static void remove_tree(const char *dir) {
    char command[600];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    assert_int_equal(system(command), 0);
}

static void test_modules_match_cost_model(void **state) {
    (void)state;
    if (!system_torch_available()) {
        print_message("SKIP: " SYSTEM_PYTHON " cannot import torch; install python3-torch "
                      "(scripts/setup.sh does) to run this test\n");
        skip();
    }
    char dir[] = "/tmp/test_export_pytorch.XXXXXX";
    assert_non_null(mkdtemp(dir));

    static const char *const presets[] = {"genet-light", "genet-normal", "genet-large",
                                          "gpunet-0",    "gpunet-1",     "gpunet-2"};
    enum { N_PRESETS = sizeof presets / sizeof presets[0], N_MODULES = N_PRESETS + 1 };
    expected_module expect[N_MODULES];
    nas_arch small = every_block_kind_arch();
    export_and_expect(&small, dir, "every_kind.py", &expect[0]);
    for (int i = 0; i < N_PRESETS; i++) {
        nas_arch a;
        nas_err err = {0};
        if (nas_arch_load(presets[i], &a, &err) != 0) fail_msg("%s: %s", presets[i], err.msg);
        char file[64];
        snprintf(file, sizeof file, "%s.py", presets[i]);
        for (char *c = file; *c; c++)
            if (*c == '-') *c = '_';
        export_and_expect(&a, dir, file, &expect[i + 1]);
    }

    char driver_path[512];
    snprintf(driver_path, sizeof driver_path, "%s/driver.py", dir);
    FILE *driver = fopen(driver_path, "w");
    assert_non_null(driver);
    fputs(driver_py, driver);
    assert_int_equal(fclose(driver), 0);

    char command[4096];
    int used = snprintf(command, sizeof command, SYSTEM_PYTHON " '%s'", driver_path);
    for (int i = 0; i < N_MODULES; i++)
        used += snprintf(command + used, sizeof command - (size_t)used, " '%s/%s'", dir,
                         expect[i].file);
    used += snprintf(command + used, sizeof command - (size_t)used, " 2>&1");
    assert_true(used < (int)sizeof command);

    FILE *pipe = popen(command, "r");
    assert_non_null(pipe);
    char line[2048];
    int modules_seen = 0;
    bool roundtrip_ok = false, truncated_rejected = false, incomplete_rejected = false;
    while (fgets(line, sizeof line, pipe)) {
        fputs(line, stdout);
        char file[64];
        long long params;
        int fc, fh, fw, batch, classes;
        if (sscanf(line, "module %63s params %lld features %d %d %d logits %d %d", file, &params,
                   &fc, &fh, &fw, &batch, &classes) == 7) {
            assert_true(modules_seen < N_MODULES);
            const expected_module *e = &expect[modules_seen++];
            assert_string_equal(file, e->file);
            assert_int_equal(params, e->params);
            assert_int_equal(fc, e->features_c);
            assert_int_equal(fh, e->features_hw);
            assert_int_equal(fw, e->features_hw);
            assert_int_equal(batch, 2);
            assert_int_equal(classes, e->classes);
        }
        if (strncmp(line, "roundtrip ok", 12) == 0) roundtrip_ok = true;
        if (strncmp(line, "truncated rejected: ", 20) == 0) truncated_rejected = true;
        if (strncmp(line, "incomplete rejected: ", 21) == 0) incomplete_rejected = true;
    }
    int status = pclose(pipe);
    assert_int_equal(status, 0);
    assert_int_equal(modules_seen, N_MODULES);
    assert_true(roundtrip_ok);
    assert_true(truncated_rejected);
    assert_true(incomplete_rejected);
    remove_tree(dir);
}

/* Reads the saved input and our logits, loads our checkpoint into the
 * exported module, prints the largest difference of its logits from ours. */
static const char interop_py[] =
    "import importlib.util, sys, os\n"
    "import torch\n"
    "module_path, ck, inputs, ours, n = sys.argv[1:6]\n"
    "spec = importlib.util.spec_from_file_location('exported', module_path)\n"
    "mod = importlib.util.module_from_spec(spec)\n"
    "spec.loader.exec_module(mod)\n"
    "tensors = mod.read_safetensors_plain(ck)\n"
    "model = mod.load_checkpoint(ck).eval()\n"
    "n = int(n)\n"
    "x = torch.frombuffer(bytearray(open(inputs, 'rb').read()), dtype=torch.float32)\n"
    "x = x.reshape(n, mod.IN_CHANNELS, mod.RESOLUTION, mod.RESOLUTION)\n"
    "want = torch.frombuffer(bytearray(open(ours, 'rb').read()), dtype=torch.float32).reshape(n, -1)\n"
    "with torch.no_grad():\n"
    "    got = model(x)\n"
    "scale = want.abs().max().item()\n"
    "print('interop tensors %d maxdiff %.3g scale %.3g' % (len(tensors),\n"
    "      (got - want).abs().max().item(), scale))\n";

static void write_floats(const char *path, const float *v, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(v, sizeof *v, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Our network with BN weights, biases and running statistics moved away
 * from their initial 1/0/0/1, so that a wrong BN order, eps or layout shows. */
static void perturb_batch_norm(nas_net *net, nas_rng *rng) {
    nas_err err = {0};
    nas_ckpt *ck = NULL;
    if (nas_ckpt_from_net(net, NULL, &ck, &err) != 0) fail_msg("%s", err.msg);
    nas_ckpt *moved = nas_ckpt_new();
    assert_non_null(moved);
    for (int i = 0; i < nas_ckpt_tensor_count(ck); i++) {
        const nas_ckpt_tensor *t = nas_ckpt_tensor_at(ck, i);
        float *data = malloc(t->count * sizeof *data);
        assert_non_null(data);
        memcpy(data, t->data, t->count * sizeof *data);
        const char *dot = strrchr(t->name, '.');
        bool bn = strstr(t->name, ".bn") != NULL;
        for (size_t k = 0; bn && k < t->count; k++) {
            double u = nas_rng_uniform(rng);
            if (strcmp(dot, ".weight") == 0) data[k] = (float)(0.5 + u);
            if (strcmp(dot, ".bias") == 0) data[k] = (float)(u - 0.5);
            if (strcmp(dot, ".running_mean") == 0) data[k] = (float)(0.2 * (u - 0.5));
            if (strcmp(dot, ".running_var") == 0) data[k] = (float)(0.5 + u);
        }
        assert_int_equal(nas_ckpt_add(moved, t->name, t->ndim, t->shape, data, &err), 0);
        free(data);
    }
    int loaded = 0;
    if (nas_ckpt_to_net(moved, net, NULL, NAS_CKPT_STRICT, &loaded, NULL, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(loaded, nas_net_param_count(net));
    nas_ckpt_free(&ck);
    nas_ckpt_free(&moved);
}

static void test_trainer_checkpoint_gives_same_logits(void **state) {
    (void)state;
    if (!system_torch_available()) {
        print_message("SKIP: " SYSTEM_PYTHON " cannot import torch\n");
        skip();
    }
    char dir[] = "/tmp/test_export_interop.XXXXXX";
    assert_non_null(mkdtemp(dir));
    nas_arch a = every_block_kind_arch();
    nas_err err = {0};
    nas_backend *be = NULL;
    if (nas_backend_cpu_new(1, &be, &err) != 0) fail_msg("%s", err.msg);
    enum { N = 2 };
    nas_net *net = NULL;
    if (nas_net_new(&a, be, N, 11, &net, &err) != 0) fail_msg("%s", err.msg);
    nas_rng rng;
    nas_rng_seed(&rng, 5);
    perturb_batch_norm(net, &rng);

    size_t pixels = (size_t)N * a.in_channels * a.resolution * a.resolution;
    float *images = malloc(pixels * sizeof *images);
    float logits[N * 10];
    assert_non_null(images);
    for (size_t i = 0; i < pixels; i++) images[i] = (float)nas_rng_normal(&rng);
    assert_int_equal(nas_net_set_batch(net, images, NULL, N, &err), 0);
    if (nas_net_forward(net, N, NAS_MODE_EVAL, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(nas_net_read_logits(net, logits, N, &err), 0);

    char module[128], ck_path[128], in_path[128], out_path[128], script[128];
    snprintf(module, sizeof module, "%s/model.py", dir);
    snprintf(ck_path, sizeof ck_path, "%s/ours.safetensors", dir);
    snprintf(in_path, sizeof in_path, "%s/input.f32", dir);
    snprintf(out_path, sizeof out_path, "%s/logits.f32", dir);
    snprintf(script, sizeof script, "%s/interop.py", dir);
    nas_ckpt *ck = NULL;
    assert_int_equal(nas_ckpt_from_net(net, NULL, &ck, &err), 0);
    if (nas_ckpt_save(ck, ck_path, &err) != 0) fail_msg("%s", err.msg);
    int tensors = nas_ckpt_tensor_count(ck);
    nas_ckpt_free(&ck);
    write_floats(in_path, images, pixels);
    write_floats(out_path, logits, sizeof logits / sizeof logits[0]);
    FILE *f = fopen(module, "w");
    assert_non_null(f);
    assert_int_equal(nas_export_pytorch(&a, f, &err), 0);
    assert_int_equal(fclose(f), 0);
    f = fopen(script, "w");
    assert_non_null(f);
    fputs(interop_py, f);
    assert_int_equal(fclose(f), 0);

    char command[1024];
    snprintf(command, sizeof command, SYSTEM_PYTHON " '%s' '%s' '%s' '%s' '%s' %d 2>&1", script,
             module, ck_path, in_path, out_path, N);
    FILE *pipe = popen(command, "r");
    assert_non_null(pipe);
    char line[2048];
    bool checked = false;
    while (fgets(line, sizeof line, pipe)) {
        fputs(line, stdout);
        int file_tensors;
        double maxdiff, scale;
        if (sscanf(line, "interop tensors %d maxdiff %lf scale %lf", &file_tensors, &maxdiff, &scale) == 3) {
            assert_int_equal(file_tensors, tensors);
            assert_true(scale > 0.01);              /* the logits are not all zero */
            assert_true(maxdiff <= 1e-4 * (1 + scale)); /* float32 round-off only */
            checked = true;
        }
    }
    assert_int_equal(pclose(pipe), 0);
    assert_true(checked);
    free(images);
    nas_net_free(&net);
    nas_backend_free(&be);
    remove_tree(dir);
}

/* Known figures from shared/reference/models.md, so a wrong cost model and a
 * matching wrong export cannot agree silently. */
static void test_preset_params_are_the_published_ones(void **state) {
    (void)state;
    static const struct {
        const char *preset;
        int64_t params;
    } published[] = {{"genet-light", 8173761}, {"genet-normal", 21142920},
                     {"genet-large", 31078280}, {"gpunet-0", 11885432}};
    for (size_t i = 0; i < sizeof published / sizeof published[0]; i++) {
        nas_arch a;
        nas_err err = {0};
        assert_int_equal(nas_arch_load(published[i].preset, &a, &err), 0);
        nas_cost cost;
        assert_int_equal(nas_cost_compute(&a, 0, &cost, &err), 0);
        assert_int_equal(cost.params, published[i].params);
        nas_cost_release(&cost);
    }
}

static void test_invalid_arch_is_refused(void **state) {
    (void)state;
    nas_arch a = every_block_kind_arch();
    a.stages[2].kernel = 4;
    FILE *out = tmpfile();
    assert_non_null(out);
    nas_err err = {0};
    assert_int_equal(nas_export_pytorch(&a, out, &err), NAS_EINVAL);
    assert_non_null(strstr(err.msg, "cannot export to PyTorch"));
    assert_non_null(strstr(err.msg, "kernel"));
    assert_int_equal(ftell(out), 0);
    fclose(out);
    /* A NULL error buffer must not turn the failure into success. */
    assert_int_equal(nas_export_pytorch(&a, stdout, NULL), NAS_EINVAL);
}

static void test_write_failure_is_reported(void **state) {
    (void)state;
    FILE *full = fopen("/dev/full", "w");
    if (full == NULL) skip();
    nas_arch a = every_block_kind_arch();
    nas_err err = {0};
    assert_int_equal(nas_export_pytorch(&a, full, &err), NAS_EIO);
    assert_non_null(strstr(err.msg, "writing"));
    fclose(full);
}

/* The generated text names the layers with the checkpoint's names and
 * carries the architecture's canonical JSON. */
static void test_file_contents(void **state) {
    (void)state;
    nas_arch a = every_block_kind_arch();
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    assert_non_null(out);
    nas_err err = {0};
    assert_int_equal(nas_export_pytorch(&a, out, &err), 0);
    fclose(out);
    char *json = nas_arch_to_json(&a);
    assert_non_null(json);
    assert_non_null(strstr(text, json));
    free(json);
    assert_non_null(strstr(text, "BN_EPS = 0.001\n"));
    assert_non_null(strstr(text, "DROPOUT = 0.1\n"));
    assert_non_null(strstr(text, "IN_CHANNELS = 1\n"));
    /* stage 2 layer 0: fused, stride 2 with timm padding 0, SE rd = round(96*0.25/4) = 6 */
    assert_non_null(strstr(text, "FusedIRBLayer(24, 96, 24, k=3, stride=2, pad=0, act=\"swish\", "
                                 "se_reduced=6, residual=False)"));
    /* its second layer is stride 1: padding 1 and an identity residual */
    assert_non_null(strstr(text, "FusedIRBLayer(24, 96, 24, k=3, stride=1, pad=1, act=\"swish\", "
                                 "se_reduced=6, residual=True)"));
    /* the depth-0 stage keeps its index with no layers */
    assert_non_null(strstr(text, "# stage 4: irb, absent (depth 0)\n        [],"));
    assert_non_null(strstr(text, "def load_checkpoint(path, model=None):"));
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_contents),
        cmocka_unit_test(test_invalid_arch_is_refused),
        cmocka_unit_test(test_write_failure_is_reported),
        cmocka_unit_test(test_preset_params_are_the_published_ones),
        cmocka_unit_test(test_modules_match_cost_model),
        cmocka_unit_test(test_trainer_checkpoint_gives_same_logits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
