/*
 * bcryptprimitives.dll for Wine 8.
 *
 * Go >= 1.22 gets its random numbers on Windows from
 * bcryptprimitives!ProcessPrng, which Wine 8 does not provide, so a Go
 * windows/amd64 binary dies at start under it. This DLL exports ProcessPrng
 * over advapi32!SystemFunction036 (RtlGenRandom), which Wine does have. It
 * is only for running test binaries under Wine in CI; Windows ships its own.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/* ProcessPrng fills data with len random bytes; it never fails on Windows. */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (!SystemFunction036(data, chunk))
			return FALSE;
		data += chunk;
		len -= chunk;
	}
	return TRUE;
}
