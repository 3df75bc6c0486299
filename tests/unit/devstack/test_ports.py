import random
import socket

import pytest

from devstack import ports
from devstack.ports import WEED_GRPC_OFFSET, PortBusyError, pick_port, port_is_free, release_port


@pytest.fixture(autouse=True)
def _forget_handed_out_ports():
    yield
    ports._handed_out.clear()


def test_preferred_port_is_used_when_free():
    assert pick_port(preferred=55432, is_free=lambda p: True) == 55432


def test_busy_preferred_port_falls_back_to_the_safe_range():
    port = pick_port(preferred=55432, is_free=lambda p: p != 55432, rng=random.Random(1))
    assert ports.RANGE_LOW <= port < ports.RANGE_HIGH


def test_grpc_twin_must_be_free_too():
    busy = {12000 + WEED_GRPC_OFFSET}
    port = pick_port(preferred=12000, with_grpc_twin=True, is_free=lambda p: p not in busy)
    assert port != 12000
    assert port + WEED_GRPC_OFFSET not in busy
    # The twin stays below the kernel's ephemeral range.
    assert port + WEED_GRPC_OFFSET < 32768


def test_a_port_is_never_handed_out_twice_until_released():
    first = pick_port(preferred=15000, is_free=lambda p: True)
    second = pick_port(preferred=15000, is_free=lambda p: True)
    assert (first, second) != (15000, 15000)
    release_port(first)
    assert pick_port(preferred=15000, is_free=lambda p: True) == 15000


def test_twin_is_reserved_as_well():
    port = pick_port(preferred=16000, with_grpc_twin=True, is_free=lambda p: True)
    assert port == 16000
    assert pick_port(preferred=16000 + WEED_GRPC_OFFSET, is_free=lambda p: True) != 26000


def test_gives_up_when_nothing_is_free():
    with pytest.raises(PortBusyError):
        pick_port(is_free=lambda p: False, attempts=5)


def test_port_is_free_sees_a_listening_socket():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert not port_is_free(sock.getsockname()[1])


def test_out_of_range_ports_are_not_free():
    assert not port_is_free(0)
    assert not port_is_free(70000)
