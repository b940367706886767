"""``python -m gateway_kit.localcloud serve ...``."""

from gateway_kit.localcloud.cli import localcloud

if __name__ == "__main__":
    localcloud(prog_name="python -m gateway_kit.localcloud")
