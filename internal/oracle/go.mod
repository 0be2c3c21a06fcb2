module github.com/v6xlat/xlat/internal/oracle

go 1.26.3

require github.com/v6xlat/xlat v0.0.0

require gvisor.dev/gvisor v0.0.0-20260905035102-160fafc42237

require github.com/gopacket/gopacket v1.7.7

replace github.com/v6xlat/xlat => ../..
