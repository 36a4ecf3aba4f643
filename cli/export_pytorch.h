/*
 * cli/export_pytorch.h - an architecture as a standalone PyTorch module file.
 *
 * `nas export JOB --format pytorch` writes one Python file that needs only
 * torch (and optionally the `safetensors` package): it builds the network as
 * a torch.nn.Module layer for layer like our trainer does and loads a gpunas
 * safetensors checkpoint into it, so a user can retrain or deploy the winner
 * of a search in their usual PyTorch pipeline.
 */
#ifndef NAS_CLI_EXPORT_PYTORCH_H
#define NAS_CLI_EXPORT_PYTORCH_H

#include <stdio.h>

#include "common/error.h"
#include "space/arch.h"

/*
 * Writes the Python source of the architecture `a` (validated first) to
 * `out`. The file defines the block classes, `build_model()` returning the
 * network, `load_checkpoint(path, model=None)` reading our safetensors files,
 * and a small command line (`python3 FILE [--checkpoint CK]`) that prints the
 * parameter count. Parameter names equal the checkpoint tensor names, e.g.
 * "stages.4.1.conv_dw.weight" (stage index as in the architecture, including
 * depth-0 stages, then the layer inside the stage) and "fc.weight".
 * Returns 0, NAS_EINVAL for an invalid architecture or NAS_EIO when writing
 * fails.
 */
int nas_export_pytorch(const nas_arch *a, FILE *out, nas_err *err);

#endif
