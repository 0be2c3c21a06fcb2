package nat64

import "github.com/v6xlat/xlat/header"

// tcpState is a state of the RFC 6146 §3.5.2 TCP state machine; CLOSED is
// the absence of a session.
type tcpState uint8

const (
	tcpClosed tcpState = iota
	tcpV4Init
	tcpV6Init
	tcpEstablished
	tcpV4FinRcv
	tcpV6FinRcv
	tcpV4V6FinRcv
	tcpTrans
)

var tcpStateNames = [...]string{"CLOSED", "V4_INIT", "V6_INIT", "ESTABLISHED", "V4_FIN_RCV", "V6_FIN_RCV", "V4_FIN_V6_FIN_RCV", "TRANS"}

func (s tcpState) String() string {
	if int(s) < len(tcpStateNames) {
		return tcpStateNames[s]
	}
	return "?"
}

// timerClass names a session lifetime; sessions of one class share a
// timeout and so a sorted expiry list.
type timerClass uint8

const (
	classUDP timerClass = iota
	classICMP
	classTCPEst
	classTCPTrans
	classTCPIncomingSYN
	numTimerClasses
)

// tcpStep applies one segment to a session's state (RFC 6146 §3.5.2.2).
// from6 says which side sent it. It returns the new state and the timer
// class to (re)start, or keep=true when the lifetime must not be touched.
func tcpStep(st tcpState, from6 bool, flags uint8) (next tcpState, class timerClass, keep bool) {
	syn := flags&header.TCPFlagSYN != 0
	fin := flags&header.TCPFlagFIN != 0
	rst := flags&header.TCPFlagRST != 0
	switch st {
	case tcpV4Init:
		if from6 && syn {
			return tcpEstablished, classTCPEst, false
		}
		return st, 0, true
	case tcpV6Init:
		if !from6 && syn {
			return tcpEstablished, classTCPEst, false
		}
		if from6 && syn {
			return st, classTCPTrans, false
		}
		return st, 0, true
	case tcpEstablished:
		switch {
		case rst:
			return tcpTrans, classTCPTrans, false
		case fin && from6:
			return tcpV6FinRcv, 0, true
		case fin:
			return tcpV4FinRcv, 0, true
		}
		return st, classTCPEst, false
	case tcpV4FinRcv:
		if from6 && fin {
			return tcpV4V6FinRcv, classTCPTrans, false
		}
		return st, classTCPEst, false
	case tcpV6FinRcv:
		if !from6 && fin {
			return tcpV4V6FinRcv, classTCPTrans, false
		}
		return st, classTCPEst, false
	case tcpV4V6FinRcv:
		return st, 0, true
	case tcpTrans:
		if !rst {
			return tcpEstablished, classTCPEst, false
		}
		return st, 0, true
	}
	return st, 0, true
}
