package winhost

import (
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Adapters lists the host's network adapters by friendly name with their
// unicast addresses.
func Adapters() ([]Adapter, error) {
	const flags = windows.GAA_FLAG_SKIP_ANYCAST | windows.GAA_FLAG_SKIP_MULTICAST | windows.GAA_FLAG_SKIP_DNS_SERVER
	size := uint32(16 << 10)
	for range 3 {
		buf := make([]byte, size)
		first := (*windows.IpAdapterAddresses)(unsafe.Pointer(&buf[0]))
		err := windows.GetAdaptersAddresses(windows.AF_UNSPEC, flags, 0, first, &size)
		if err == windows.ERROR_BUFFER_OVERFLOW {
			continue // size now holds what is needed
		}
		if err != nil {
			return nil, fmt.Errorf("list network adapters: %w", err)
		}
		var out []Adapter
		for a := first; a != nil; a = a.Next {
			ad := Adapter{Name: windows.UTF16PtrToString(a.FriendlyName)}
			for u := a.FirstUnicastAddress; u != nil; u = u.Next {
				if ip, ok := addrOf(u.Address); ok {
					ad.Addrs = append(ad.Addrs, ip)
				}
			}
			out = append(out, ad)
		}
		return out, nil
	}
	return nil, fmt.Errorf("list network adapters: the list kept growing")
}

func addrOf(sa windows.SocketAddress) (netip.Addr, bool) {
	if sa.Sockaddr == nil {
		return netip.Addr{}, false
	}
	switch sa.Sockaddr.Addr.Family {
	case windows.AF_INET:
		p := (*windows.RawSockaddrInet4)(unsafe.Pointer(sa.Sockaddr))
		return netip.AddrFrom4(p.Addr), true
	case windows.AF_INET6:
		p := (*windows.RawSockaddrInet6)(unsafe.Pointer(sa.Sockaddr))
		return netip.AddrFrom16(p.Addr), true
	}
	return netip.Addr{}, false
}

// HostWSLAddress returns the host's IPv4 address on the WSL network and
// the adapter's name.
func HostWSLAddress() (netip.Addr, string, error) {
	adapters, err := Adapters()
	if err != nil {
		return netip.Addr{}, "", err
	}
	return WSLAddress(adapters)
}
