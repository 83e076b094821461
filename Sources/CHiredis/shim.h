#ifndef WSCENTER_CHIREDIS_SHIM_H
#define WSCENTER_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#endif
