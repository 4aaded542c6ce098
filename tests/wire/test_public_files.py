"""PYCHAT_PUBLIC_FILES: what the broker advertises as the file service's
address, for a stack whose ports are remapped (containers, proxies)."""

from stack import RawClient

STACK_ENV = {"PYCHAT_PUBLIC_FILES": "files.example:7000"}


def test_files_names_the_advertised_host_and_port(stack):
    stack.register("pf", "pw-pf")
    client = RawClient(stack)
    try:
        client.login("pf", "pw-pf")
        stack.wait_files()
        port, key, host = client.ok("FILES")
        assert (host, port) == ("files.example", "7000")
        assert key == stack.files_key()
    finally:
        client.close()
