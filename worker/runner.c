/*
 * worker/runner.c - one job in a child process (see runner.h).
 *
 * Pipe records are {uint32 type, payload} with payloads of fixed size below
 * PIPE_BUF, so each write is atomic and the parent never sees half a record
 * from a child that died mid-write.
 */
#include "worker/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"

enum { REC_PROGRESS = 1, REC_RESULT = 2, REC_ERROR = 3 };

typedef struct rec_error {
    int code;
    char msg[NAS_ERR_MSG_MAX];
} rec_error;

typedef struct record {
    uint32_t type;
    union {
        double progress[2];
        nas_eval_result result;
        rec_error error;
    } u;
} record;

_Static_assert(sizeof(record) <= PIPE_BUF, "pipe records must be written atomically");

struct nas_runner {
    pid_t pid;
    int fd;
    bool exited, eof;
    int wait_status;
    double started, fraction, loss;
    bool have_result, have_error;
    nas_eval_result result;
    rec_error error;
    unsigned char buf[sizeof(record)];
    size_t buf_len;
};

/* ---- child side --------------------------------------------------------- */

static void write_record(int fd, const record *r) {
    const unsigned char *p = (const unsigned char *)r;
    size_t left = sizeof *r;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) _exit(3); /* the parent is gone */
        p += n;
        left -= (size_t)n;
    }
}

static void child_progress(void *ctx, double fraction, double loss) {
    record r = {.type = REC_PROGRESS};
    r.u.progress[0] = fraction;
    r.u.progress[1] = loss;
    write_record(*(int *)ctx, &r);
}

static void child_main(int fd, const nas_evaluator_ops *ops, const char *options_json, const nas_eval_job *job,
                       int gpu, pid_t parent) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(4); /* the worker died before the line above took effect */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_IGN); /* a Ctrl-C goes to the worker, which decides */
    if (gpu >= 0) {
        char dev[16];
        snprintf(dev, sizeof dev, "%d", gpu);
        setenv("CUDA_VISIBLE_DEVICES", dev, 1);
    }
    static record r;
    nas_err err = {0};
    void *self = NULL;
    int rc = ops->create(options_json, &self, &err);
    if (rc == 0) {
        memset(&r, 0, sizeof r);
        r.type = REC_RESULT;
        rc = ops->run(self, job, child_progress, &fd, &r.u.result, &err);
        ops->destroy(self);
    }
    if (rc) {
        memset(&r, 0, sizeof r);
        r.type = REC_ERROR;
        r.u.error.code = rc;
        snprintf(r.u.error.msg, sizeof r.u.error.msg, "%s", err.msg[0] ? err.msg : nas_err_name(rc));
    }
    write_record(fd, &r);
    close(fd);
    _exit(0);
}

/* ---- parent side -------------------------------------------------------- */

int nas_runner_start(const nas_evaluator_ops *ops, const char *options_json, const nas_eval_job *job, int gpu,
                     nas_runner **out, nas_err *err) {
    *out = NULL;
    nas_runner *r = calloc(1, sizeof *r);
    if (!r) return nas_err_set(err, NAS_ENOMEM, "out of memory");
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        free(r);
        return nas_err_set(err, NAS_EIO, "cannot create a pipe for the job: %s", strerror(errno));
    }
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        free(r);
        return nas_err_set(err, NAS_EIO, "cannot start the job process: %s", strerror(e));
    }
    if (pid == 0) {
        close(fds[0]);
        child_main(fds[1], ops, options_json, job, gpu, parent);
    }
    close(fds[1]);
    fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
    r->pid = pid;
    r->fd = fds[0];
    r->started = nas_now_monotonic();
    *out = r;
    return 0;
}

int nas_runner_fd(const nas_runner *r) { return r->fd; }

static void take_record(nas_runner *r, const record *rec) {
    switch (rec->type) {
    case REC_PROGRESS:
        r->fraction = rec->u.progress[0];
        r->loss = rec->u.progress[1];
        break;
    case REC_RESULT:
        r->result = rec->u.result;
        r->have_result = true;
        break;
    case REC_ERROR:
        r->error = rec->u.error;
        r->error.msg[sizeof r->error.msg - 1] = '\0';
        r->have_error = true;
        break;
    default: break; /* our own child; an unknown record means memory corruption there: ignore */
    }
}

bool nas_runner_poll(nas_runner *r) {
    while (!r->eof) {
        ssize_t n = read(r->fd, r->buf + r->buf_len, sizeof r->buf - r->buf_len);
        if (n > 0) {
            r->buf_len += (size_t)n;
            if (r->buf_len == sizeof r->buf) {
                record rec;
                memcpy(&rec, r->buf, sizeof rec);
                take_record(r, &rec);
                r->buf_len = 0;
            }
            continue;
        }
        if (n == 0) r->eof = true;
        else if (errno != EINTR) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) r->eof = true;
            break;
        }
    }
    if (!r->exited) {
        /* after EOF the child is exiting: wait briefly for it rather than spin on the poll */
        pid_t w = waitpid(r->pid, &r->wait_status, WNOHANG);
        for (int i = 0; r->eof && w == 0 && i < 2000; i++) {
            usleep(500);
            w = waitpid(r->pid, &r->wait_status, WNOHANG);
        }
        if (w == r->pid || (w < 0 && errno == ECHILD)) r->exited = true;
    }
    return r->exited && r->eof;
}

void nas_runner_progress(const nas_runner *r, double *fraction, double *loss) {
    *fraction = r->fraction;
    *loss = r->loss;
}

double nas_runner_elapsed(const nas_runner *r) { return nas_now_monotonic() - r->started; }

int nas_runner_outcome(const nas_runner *r, nas_eval_result *out, bool *retryable, nas_err *err) {
    *retryable = true;
    if (r->have_result) {
        *out = r->result;
        out->device[sizeof out->device - 1] = '\0';
        out->checkpoint[sizeof out->checkpoint - 1] = '\0';
        return 0;
    }
    if (r->have_error) {
        *retryable = nas_eval_error_retryable(r->error.code);
        return nas_err_set(err, r->error.code, "%s", r->error.msg);
    }
    if (WIFSIGNALED(r->wait_status))
        return nas_err_set(err, NAS_EIO, "the job process died of signal %d (%s)", WTERMSIG(r->wait_status),
                           strsignal(WTERMSIG(r->wait_status)));
    return nas_err_set(err, NAS_EIO, "the job process exited with status %d without a result",
                       WIFEXITED(r->wait_status) ? WEXITSTATUS(r->wait_status) : -1);
}

void nas_runner_kill(nas_runner *r) {
    if (!r || r->exited) return;
    kill(r->pid, SIGKILL);
    while (waitpid(r->pid, &r->wait_status, 0) < 0 && errno == EINTR) {
    }
    r->exited = true;
}

void nas_runner_free(nas_runner **rp) {
    if (!rp || !*rp) return;
    nas_runner *r = *rp;
    nas_runner_kill(r);
    close(r->fd);
    free(r);
    *rp = NULL;
}
