/* ormctl — the commands the dispatcher in ormctl.c knows. Each takes the arguments after
 * its own name and returns the process exit status (0 ok, 1 failure, 2 usage). Adding a
 * command is one prototype here, one file, and one row in ormctl.c's table. */
#ifndef ORMCTL_CLI_H
#define ORMCTL_CLI_H

int ormctl_generate(int argc, char **argv);
void ormctl_generate_usage(void);
int ormctl_migrate(int argc, char **argv);
void ormctl_migrate_usage(void);

#endif
