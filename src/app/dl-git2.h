/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* libgit2, loaded on first use (base/dlopen.h says why: it and what it pulls
 * in are a dozen shared objects that only the config-history commands need).
 * Include this in a .c file after every other header: it turns the git_*
 * calls of that file into calls through pointers that bothy_dlopen_git2()
 * fills. */
#include <git2.h>
#include "base/error.h"

#define BOTHY_GIT2_SYMBOLS(X)                                                                      \
  X(git_blob_create_from_buffer)                                                                   \
  X(git_blob_free)                                                                                 \
  X(git_blob_lookup)                                                                               \
  X(git_blob_rawcontent)                                                                           \
  X(git_blob_rawsize)                                                                              \
  X(git_buf_dispose)                                                                               \
  X(git_commit_create)                                                                             \
  X(git_commit_free)                                                                               \
  X(git_commit_id)                                                                                 \
  X(git_commit_lookup)                                                                             \
  X(git_commit_message)                                                                            \
  X(git_commit_parent)                                                                             \
  X(git_commit_parentcount)                                                                        \
  X(git_commit_time)                                                                               \
  X(git_commit_tree)                                                                               \
  X(git_diff_free)                                                                                 \
  X(git_diff_options_init)                                                                         \
  X(git_diff_to_buf)                                                                               \
  X(git_diff_tree_to_workdir)                                                                      \
  X(git_error_last)                                                                                \
  X(git_ignore_path_is_ignored)                                                                    \
  X(git_index_add_bypath)                                                                          \
  X(git_index_free)                                                                                \
  X(git_index_path)                                                                                \
  X(git_index_read)                                                                                \
  X(git_index_read_tree)                                                                           \
  X(git_index_remove_bypath)                                                                       \
  X(git_index_write)                                                                               \
  X(git_libgit2_init)                                                                              \
  X(git_libgit2_opts)                                                                              \
  X(git_object_free)                                                                               \
  X(git_object_peel)                                                                               \
  X(git_odb_hash)                                                                                  \
  X(git_oid_cmp)                                                                                   \
  X(git_oid_tostr)                                                                                 \
  X(git_reference_name_to_id)                                                                      \
  X(git_repository_free)                                                                           \
  X(git_repository_index)                                                                          \
  X(git_repository_init_ext)                                                                       \
  X(git_repository_init_options_init)                                                              \
  X(git_repository_is_bare)                                                                        \
  X(git_repository_open_ext)                                                                       \
  X(git_repository_path)                                                                           \
  X(git_revparse_single)                                                                           \
  X(git_revwalk_free)                                                                              \
  X(git_revwalk_new)                                                                               \
  X(git_revwalk_next)                                                                              \
  X(git_revwalk_push_head)                                                                         \
  X(git_revwalk_sorting)                                                                           \
  X(git_signature_free)                                                                            \
  X(git_signature_now)                                                                             \
  X(git_tree_create_updated)                                                                       \
  X(git_tree_entry_bypath)                                                                         \
  X(git_tree_entry_free)                                                                           \
  X(git_tree_entry_id)                                                                             \
  X(git_tree_entry_type)                                                                           \
  X(git_tree_free)                                                                                 \
  X(git_tree_id)                                                                                   \
  X(git_tree_lookup)

#define BOTHY_DL_DECLARE(f) extern __typeof__(f) *sym_##f;
BOTHY_GIT2_SYMBOLS(BOTHY_DL_DECLARE)
#undef BOTHY_DL_DECLARE

/* Loads libgit2 and calls git_libgit2_init() (once: libgit2 counts its
 * initialisations, and bothy never shuts it down); fails with a message
 * naming the library. */
int bothy_dlopen_git2(bothy_error_t *err);

#ifndef BOTHY_DL_GIT2_IMPL
#define git_blob_create_from_buffer      sym_git_blob_create_from_buffer
#define git_blob_free                    sym_git_blob_free
#define git_blob_lookup                  sym_git_blob_lookup
#define git_blob_rawcontent              sym_git_blob_rawcontent
#define git_blob_rawsize                 sym_git_blob_rawsize
#define git_buf_dispose                  sym_git_buf_dispose
#define git_commit_create                sym_git_commit_create
#define git_commit_free                  sym_git_commit_free
#define git_commit_id                    sym_git_commit_id
#define git_commit_lookup                sym_git_commit_lookup
#define git_commit_message               sym_git_commit_message
#define git_commit_parent                sym_git_commit_parent
#define git_commit_parentcount           sym_git_commit_parentcount
#define git_commit_time                  sym_git_commit_time
#define git_commit_tree                  sym_git_commit_tree
#define git_diff_free                    sym_git_diff_free
#define git_diff_options_init            sym_git_diff_options_init
#define git_diff_to_buf                  sym_git_diff_to_buf
#define git_diff_tree_to_workdir         sym_git_diff_tree_to_workdir
#define git_error_last                   sym_git_error_last
#define git_ignore_path_is_ignored       sym_git_ignore_path_is_ignored
#define git_index_add_bypath             sym_git_index_add_bypath
#define git_index_free                   sym_git_index_free
#define git_index_path                   sym_git_index_path
#define git_index_read                   sym_git_index_read
#define git_index_read_tree              sym_git_index_read_tree
#define git_index_remove_bypath          sym_git_index_remove_bypath
#define git_index_write                  sym_git_index_write
#define git_libgit2_init                 sym_git_libgit2_init
#define git_libgit2_opts                 sym_git_libgit2_opts
#define git_object_free                  sym_git_object_free
#define git_object_peel                  sym_git_object_peel
#define git_odb_hash                     sym_git_odb_hash
#define git_oid_cmp                      sym_git_oid_cmp
#define git_oid_tostr                    sym_git_oid_tostr
#define git_reference_name_to_id         sym_git_reference_name_to_id
#define git_repository_free              sym_git_repository_free
#define git_repository_index             sym_git_repository_index
#define git_repository_init_ext          sym_git_repository_init_ext
#define git_repository_init_options_init sym_git_repository_init_options_init
#define git_repository_is_bare           sym_git_repository_is_bare
#define git_repository_open_ext          sym_git_repository_open_ext
#define git_repository_path              sym_git_repository_path
#define git_revparse_single              sym_git_revparse_single
#define git_revwalk_free                 sym_git_revwalk_free
#define git_revwalk_new                  sym_git_revwalk_new
#define git_revwalk_next                 sym_git_revwalk_next
#define git_revwalk_push_head            sym_git_revwalk_push_head
#define git_revwalk_sorting              sym_git_revwalk_sorting
#define git_signature_free               sym_git_signature_free
#define git_signature_now                sym_git_signature_now
#define git_tree_create_updated          sym_git_tree_create_updated
#define git_tree_entry_bypath            sym_git_tree_entry_bypath
#define git_tree_entry_free              sym_git_tree_entry_free
#define git_tree_entry_id                sym_git_tree_entry_id
#define git_tree_entry_type              sym_git_tree_entry_type
#define git_tree_free                    sym_git_tree_free
#define git_tree_id                      sym_git_tree_id
#define git_tree_lookup                  sym_git_tree_lookup
#endif
