//  pc_version.h: PyChat's one version string. Every binary's --version
//  prints it; bump it here only.
#ifndef PC_VERSION_H_INCLUDED
#define PC_VERSION_H_INCLUDED

#define PC_VERSION  "0.2.0"

#endif
