//===- main.cpp - colmc ---------------------------------------------------===//
#include "tools/colmc/Colmc.h"

int main(int argc, char **argv) { return colm::colmcMain(argc, argv); }
