#include "tools/colm/Commands.h"

int main(int argc, char **argv) { return colm::cli::colmMain(argc, argv); }
