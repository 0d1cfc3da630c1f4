/* `tandemctl demo`: the embedded demonstration. argv[0] is "demo"; returns the exit status. */
#ifndef TANDEMCTL_DEMO_H
#define TANDEMCTL_DEMO_H

int demo_main(int argc, char **argv);

#endif
