//  files_download.h: listing (FLIST), downloads (FOPEN, FREAD) and removal
//  (FRM) of the files a space holds (PROTOCOL.md, "File sharing").
#ifndef FILES_DOWNLOAD_H_INCLUDED
#define FILES_DOWNLOAD_H_INCLUDED

#include "files_core.h"

void        files_download_destroy  (files_handle_t **self_p);
//  Each after the broker's FCHECK said user (role) may use space.
void        files_download_flist    (files_core_t *self, pc_msg_t *request, const char *user,
                                     const char *role, const char *space);
void        files_download_fopen    (files_core_t *self, pc_msg_t *request, const char *user,
                                     const char *role, const char *space);
void        files_download_frm      (files_core_t *self, pc_msg_t *request, const char *user,
                                     const char *role, const char *space);
//  FREAD names its handle: no FCHECK.
void        files_download_fread    (files_core_t *self, pc_msg_t *request);
//  Downloads under way (a descriptor held).
size_t      files_download_active   (files_core_t *self);

void        files_download_test     (bool verbose);
#endif
