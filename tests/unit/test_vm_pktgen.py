"""Parsing pkt-gen's summaries (both sides of `ptnet vm validate`) and the verdict."""

import pytest

from ptnet.errors import PtnetError, UsageError
from ptnet.guest.pktgen import Summary, default_peer, parse_summary, verdict
from ptnet.model.ports import parse_port

TX = """\
main_thread: 60 bytes
Sent 1000000 packets 60000000 bytes 15625 events 60 bytes each in 0.41 seconds.
Speed: 2.439 Mpps Bandwidth: 1.171 Gbps (raw 1.639 Gbps). Average batch: 64.00 pkts
"""
RX = """\
Received 1000000 packets 60000000 bytes 20001 events 60 bytes each in 0.45 seconds.
Errors: 0, lost: 0
Speed: 2.222 Mpps Bandwidth: 1.067 Gbps (raw 1.493 Gbps). Average batch: 50.00 pkts
"""


def test_parse_tx_and_rx():
    tx, rx = parse_summary(TX), parse_summary(RX)
    assert tx == Summary("tx", 1_000_000, 60_000_000, 0.41, 2_439_000.0)
    assert (rx.role, rx.packets, rx.bytes, rx.errors, rx.lost) == ("rx", 1_000_000, 6e7, 0, 0)
    assert rx.mpps == 2.222


def test_parse_unnormalised_and_empty_reports():
    s = parse_summary("Received nothing.\nSpeed: 0.00 pps Bandwidth: 0.00 bps (raw 0.00 bps).\n")
    assert (s.role, s.packets, s.pps) == ("rx", 0, 0.0)
    s = parse_summary(RX.replace("2.222 M", "812.5 K").replace("Errors: 0", "Errors: 3"))
    assert (s.pps, s.errors) == (812_500.0, 3)


@pytest.mark.parametrize("text", ["", "Segmentation fault\n", "Sent 5 packets\nSpeed: x pps\n"])
def test_no_summary_is_an_error(text):
    with pytest.raises(PtnetError, match="pkt-gen"):
        parse_summary(text)


def test_verdict_passes_only_on_exact_counts_and_bytes():
    tx, rx = parse_summary(TX), parse_summary(RX)
    ok = verdict(tx, rx, 1_000_000, 60)
    assert (ok["verdict"], ok["tx_mpps"], ok["rx_mpps"]) == ("pass", 2.439, 2.222)
    assert verdict(tx, rx, 1_000_000, 64)["verdict"] == "fail"
    short = Summary("rx", 999_999, 59_999_940, 0.45, 2.2e6)
    assert verdict(tx, short, 1_000_000, 60)["verdict"] == "fail"
    bad = Summary("rx", 1_000_000, 60_000_000, 0.45, 2.2e6, errors=1)
    assert verdict(tx, bad, 1_000_000, 60)["verdict"] == "fail"


def test_default_peers():
    assert default_peer(parse_port("pipeA{3")) == "pipeA}3"
    assert default_peer(parse_port("netmap:pipeA}3")) == "pipeA{3"
    assert default_peer(parse_port("vale1:10")) == "vale1:ptnetpeer"
    with pytest.raises(UsageError, match="--peer"):
        default_peer(parse_port("netmap:eth0"))
