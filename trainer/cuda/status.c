/*
 * trainer/cuda/status.c - error-code mapping and messages for the CUDA
 * backend (see status.h). The only file that knows each library's status
 * enum; everything else goes through the NAS_CU_* macros.
 */
#include "trainer/cuda/status.h"

#include <stdio.h>

#include <cublas_api.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

int nas_cu_status_code(nas_cu_lib lib, int status) {
    switch (lib) {
    case NAS_CU_LIB_CUDA:
        if (status == (int)cudaSuccess) return NAS_OK;
        if (status == (int)cudaErrorMemoryAllocation) return NAS_EOOM_DEVICE;
        /* No GPU or no driver: the backend is not usable on this host at
         * all, which is a configuration matter rather than a device fault. */
        if (status == (int)cudaErrorNoDevice || status == (int)cudaErrorInsufficientDriver ||
            status == (int)cudaErrorInvalidDevice)
            return NAS_EUNSUPPORTED;
        return NAS_EDEVICE;
    case NAS_CU_LIB_CUDNN:
        if (status == (int)CUDNN_STATUS_SUCCESS) return NAS_OK;
        if (status == (int)CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED)
            return NAS_EOOM_DEVICE;
        if (status == (int)CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED) return NAS_ENOMEM;
        return NAS_EDEVICE;
    case NAS_CU_LIB_CUBLAS:
        if (status == (int)CUBLAS_STATUS_SUCCESS) return NAS_OK;
        if (status == (int)CUBLAS_STATUS_ALLOC_FAILED) return NAS_EOOM_DEVICE;
        return NAS_EDEVICE;
    }
    return NAS_EDEVICE;
}

const char *nas_cu_status_text(nas_cu_lib lib, int status) {
    switch (lib) {
    case NAS_CU_LIB_CUDA: return cudaGetErrorString((cudaError_t)status);
    case NAS_CU_LIB_CUDNN: return cudnnGetErrorString((cudnnStatus_t)status);
    case NAS_CU_LIB_CUBLAS: return cublasGetStatusString((cublasStatus_t)status);
    }
    return "unknown library";
}

static const char *lib_name(nas_cu_lib lib) {
    switch (lib) {
    case NAS_CU_LIB_CUDA: return "CUDA";
    case NAS_CU_LIB_CUDNN: return "cuDNN";
    case NAS_CU_LIB_CUBLAS: return "cuBLAS";
    }
    return "?";
}

int nas_cu_check(nas_cu_lib lib, int status, const char *call, const char *file, int line,
                 nas_err *err) {
    int code = nas_cu_status_code(lib, status);
    if (code == NAS_OK) return 0;
    const char *hint = "";
    if (code == NAS_EOOM_DEVICE)
        hint = " (out of GPU memory: use a smaller batch or resolution)";
    else if (code == NAS_EUNSUPPORTED)
        hint = " (no usable GPU: check the driver, nvidia-smi and CUDA_VISIBLE_DEVICES)";
    if (lib == NAS_CU_LIB_CUDNN) {
        /* cuDNN 9 keeps a more specific sentence about the last failure. */
        char detail[256] = "";
        cudnnGetLastErrorString(detail, sizeof detail);
        return nas_err_set(err, code, "%s failed at %s:%d: %s %d (%s)%s%s%s", call, file, line,
                           lib_name(lib), status, nas_cu_status_text(lib, status),
                           detail[0] ? ": " : "", detail, hint);
    }
    return nas_err_set(err, code, "%s failed at %s:%d: %s error %d (%s)%s", call, file, line,
                       lib_name(lib), status, nas_cu_status_text(lib, status), hint);
}

void nas_cu_format_bytes(size_t bytes, char *buf, size_t buf_size) {
    const double kib = 1024.0, mib = kib * 1024.0, gib = mib * 1024.0;
    double b = (double)bytes;
    if (b >= gib)
        snprintf(buf, buf_size, "%.2f GiB", b / gib);
    else if (b >= mib)
        snprintf(buf, buf_size, "%.1f MiB", b / mib);
    else if (b >= kib)
        snprintf(buf, buf_size, "%.1f KiB", b / kib);
    else
        snprintf(buf, buf_size, "%zu B", bytes);
}
