/* ormctl — the command-line tool: a thin main that dispatches `ormctl <command> ...` to the
 * command's own file (generate now; migrate next). Keeps true: this file holds no command
 * logic, only the table below, help and version. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#ifndef ORMCTL_VERSION
#define ORMCTL_VERSION "0"
#endif

typedef struct command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
    void (*usage)(void);
} command;

static const command commands[] = {
    { "generate", "C structs and model descriptors from a SQL schema or migrations folder",
      ormctl_generate, ormctl_generate_usage },
    { "migrate", "apply, revert and inspect versioned migrations (up, down, goto, status, ...)",
      ormctl_migrate, ormctl_migrate_usage },
};

static void usage(FILE *out)
{
    fprintf(out, "usage: ormctl <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`ormctl help <command>` shows a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("ormctl %s\n", ORMCTL_VERSION);
        return 0;
    }
    int help = strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0;
    if (help && argc < 3) {
        usage(stdout);
        return 0;
    }
    if (help)
        name = argv[2];
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(name, commands[i].name) != 0)
            continue;
        if (help) {
            commands[i].usage();
            return 0;
        }
        return commands[i].run(argc - 2, argv + 2);
    }
    fprintf(stderr, "ormctl: unknown command '%s'\n", name);
    usage(stderr);
    return 2;
}
