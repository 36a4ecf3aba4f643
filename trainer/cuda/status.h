/*
 * trainer/cuda/status.h - turning CUDA, cuDNN and cuBLAS return codes into
 * nas_err sentences that name the call that failed.
 *
 * Every library call in the CUDA backend goes through one of the NAS_CU_*
 * macros below. A failure never aborts the process (a worker must report the
 * job's failure and keep serving): the macro fills the caller's nas_err with
 * "<call> failed at file:line: <library's message>" and returns the mapped
 * code from the enclosing function. Out-of-memory in any of the three
 * libraries maps to NAS_EOOM_DEVICE (final: a bigger batch will not fit on a
 * second attempt either); everything else is NAS_EDEVICE.
 *
 * The code mapping itself is plain C over integer codes, so it is unit-tested
 * on machines without a GPU (tests/test_cuda_host.c).
 */
#ifndef NAS_TRAINER_CUDA_STATUS_H
#define NAS_TRAINER_CUDA_STATUS_H

#include <stddef.h>

#include "common/error.h"

typedef enum { NAS_CU_LIB_CUDA = 0, NAS_CU_LIB_CUDNN, NAS_CU_LIB_CUBLAS } nas_cu_lib;

/* NAS_EOOM_DEVICE if `status` is that library's out-of-memory code,
 * NAS_OK if it is its success code, NAS_EDEVICE otherwise. */
int nas_cu_status_code(nas_cu_lib lib, int status);

/* The library's own text for a status code (static storage). */
const char *nas_cu_status_text(nas_cu_lib lib, int status);

/* If `status` is a failure, fills err with the call's text, location and the
 * library's message and returns the mapped code; returns 0 otherwise. */
int nas_cu_check(nas_cu_lib lib, int status, const char *call, const char *file, int line,
                 nas_err *err);

/* Formats a byte count for messages ("1.50 GiB", "12.0 MiB", "512 B"). */
void nas_cu_format_bytes(size_t bytes, char *buf, size_t buf_size);

/* Checks one call; on failure fills `err` (a nas_err * in scope) and returns
 * the code from the enclosing function. */
#define NAS_CU_TRY_LIB(lib, call, err)                                                          \
    do {                                                                                        \
        int nas_cu_rc_ = nas_cu_check((lib), (int)(call), #call, __FILE__, __LINE__, (err));    \
        if (nas_cu_rc_ < 0) return nas_cu_rc_;                                                  \
    } while (0)
#define NAS_CUDA_TRY(call, err) NAS_CU_TRY_LIB(NAS_CU_LIB_CUDA, call, err)
#define NAS_CUDNN_TRY(call, err) NAS_CU_TRY_LIB(NAS_CU_LIB_CUDNN, call, err)
#define NAS_CUBLAS_TRY(call, err) NAS_CU_TRY_LIB(NAS_CU_LIB_CUBLAS, call, err)

/* Same, but jumps to a cleanup label with `rc` set instead of returning. */
#define NAS_CU_TRY_GOTO_LIB(lib, call, err, rc, label)                                          \
    do {                                                                                        \
        (rc) = nas_cu_check((lib), (int)(call), #call, __FILE__, __LINE__, (err));              \
        if ((rc) < 0) goto label;                                                               \
    } while (0)
#define NAS_CUDA_TRY_GOTO(call, err, rc, label) NAS_CU_TRY_GOTO_LIB(NAS_CU_LIB_CUDA, call, err, rc, label)
#define NAS_CUDNN_TRY_GOTO(call, err, rc, label) NAS_CU_TRY_GOTO_LIB(NAS_CU_LIB_CUDNN, call, err, rc, label)
#define NAS_CUBLAS_TRY_GOTO(call, err, rc, label) NAS_CU_TRY_GOTO_LIB(NAS_CU_LIB_CUBLAS, call, err, rc, label)

#endif
