/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The acfetch command: global options and the subcommands. */
#pragma once

#include <stdbool.h>

#include "casync/casync.h"

/* rkt's --insecure-options words. */
enum {
        INSECURE_HTTP = 1 << 0,
        INSECURE_TLS = 1 << 1,
        INSECURE_IMAGE = 1 << 2,
        INSECURE_PUBKEY = 1 << 3,
        INSECURE_ONDISK = 1 << 4,
};

typedef struct global_options {
        const char *dir; /* image store; resolved at startup */
        unsigned insecure;
        const char *system_config;
        const char *local_config;
        bool debug;
        bool quiet;
} global_options;

extern global_options arg_global;

typedef struct command {
        const char *name;
        int (*run)(int argc, char **argv); /* argv[0] is the command name */
        const char *summary;
        const char *usage; /* full --help text */
} command;

extern const command command_extract;
extern const command command_mtree;

/* Prints the command's --help text to stdout. */
void command_help(const command *c);
/* "--jobs" values: a positive number, or 0 meaning one per CPU. */
int parse_jobs(const char *s, unsigned *ret);
unsigned default_jobs(void);

/* ---- archive_input.c: decode an archive named on the command line into a sink */
typedef enum input_kind {
        INPUT_CATAR,
        INPUT_CAIDX,
        INPUT_CAIBX,
} input_kind;

typedef struct archive_input {
        const char *path;
        input_kind kind;
        ca_index *index;      /* CAIDX/CAIBX */
        ca_store_list stores; /* CAIDX/CAIBX */
        unsigned jobs;
} archive_input;

/* Opens the index (if any) and the stores (given, else <dir of INDEX>/default.castr). */
int archive_input_open(archive_input *in, const char *path, char **store_paths,
                       size_t n_store_paths, unsigned jobs);
void archive_input_close(archive_input *in);
/* Decodes a .catar or .caidx into the sink, ending with ca_decoder_finish. */
int archive_input_decode(archive_input *in, const ca_sink *sink);
/* Writes the stream of any input (the blob of a .caibx) to a writer. */
int archive_input_stream(archive_input *in, ca_stream_writer write, void *userdata);
