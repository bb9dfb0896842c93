/* crc32c — CRC32C (Castagnoli) through ISA-L's crc32_iscsi.
 * crc32c(0, "123456789", 9) == 0xE3069283. Chainable: pass the previous
 * result as crc to continue over the next buffer. */
#ifndef BIGFS_CRC32C_H
#define BIGFS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

#endif
