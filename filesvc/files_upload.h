//  files_upload.h: uploads (FPUT, FDATA, FDONE) and the sweep of the
//  pending ones nobody finishes (PROTOCOL.md, "File sharing").
#ifndef FILES_UPLOAD_H_INCLUDED
#define FILES_UPLOAD_H_INCLUDED

#include "files_core.h"

void        files_upload_destroy    (files_upload_t **self_p);
//  What an FPUT needs no broker for (size, SHA-256): 0, or -1 when it
//  was answered (400) and goes no further.
int         files_upload_precheck   (files_core_t *self, pc_msg_t *request);
//  FPUT, after the broker's FCHECK said user (role) may use space.
void        files_upload_fput       (files_core_t *self, pc_msg_t *request, const char *user,
                                     const char *role, const char *space);
void        files_upload_fdata      (files_core_t *self, pc_msg_t *request);
void        files_upload_fdone      (files_core_t *self, pc_msg_t *request);
//  Pending uploads untouched for FILES_STALE_MS go, with their bytes; so do
//  parts as old that Redis does not know (it lost them, or was wiped).
void        files_upload_sweep      (files_core_t *self, int64_t now);

void        files_upload_test       (bool verbose);
#endif
