/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/* Kernel addresses to function names, from /proc/kallsyms (read once, when first needed). */
#ifndef TW_KSYMS_H
#define TW_KSYMS_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

struct tw_ksyms;

/* NULL only without memory; an unreadable kallsyms gives an empty table (hidden). */
struct tw_ksyms *ksyms_load(const char *path);
void ksyms_free(struct tw_ksyms *k);
/* The addresses are hidden (kptr_restrict, no CAP_SYSLOG: every address reads 0). */
bool ksyms_hidden(const struct tw_ksyms *k);
/*
 * The function holding addr and its offset in it, and its module ("[kernel]"
 * or "[ext4]"...); false if none does.
 */
bool ksyms_find(const struct tw_ksyms *k, __u64 addr, const char **name, const char **module,
		__u64 *offset);
/* One /proc/kallsyms line into its parts; false for a line that is not a text symbol. */
bool ksyms_parse_line(const char *line, __u64 *addr, char *name, size_t name_sz, char *mod,
		      size_t mod_sz);

#endif
