"""LiteLLM builds the generated example config's Router without one warning.

A warning per deployment at start-up is noise in the gateway's log (thousands of lines at thousands
of models) and a sign the config asks LiteLLM for a slower path. The one seen: self-hosted
deployments declaring input and output rates of 0 but not the cache rates, for which LiteLLM
1.106.2's ``register_model`` warns that they "will default to 0".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from generator.layers import CRITICAL
from generator.pipeline import build

pytestmark = [pytest.mark.integration, pytest.mark.requires_litellm]

ROOT = Path(__file__).resolve().parents[2]
# Every record LiteLLM's loggers emit at WARNING or above while its Router takes the model list, as
# the proxy's start-up does (proxy_server.py builds the Router from model_list).
BUILD_ROUTER = """
import json, logging, sys
import yaml
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append(record)
import litellm
from litellm import Router
for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
    logging.getLogger(name).addHandler(Keep())
with open(sys.argv[1], encoding="utf-8") as handle:
    config = yaml.safe_load(handle)
Router(model_list=config["model_list"])
print(json.dumps([f"{r.name} {r.levelname}: {r.getMessage()}" for r in records if r.levelno >= logging.WARNING]))
"""


def test_the_router_takes_the_generated_model_list_without_a_warning(tmp_path: Path) -> None:
    result = build(ROOT / "fixtures" / "configs" / "example", layers=CRITICAL, commit="none")
    assert result.ok and result.text is not None
    generated = tmp_path / "litellm-unified.yaml"
    generated.write_text(result.text, encoding="utf-8")
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "OPENAI_API_KEY": "sk-test", "ANTHROPIC_API_KEY": "sk-test"}
    done = subprocess.run([sys.executable, "-c", BUILD_ROUTER, str(generated)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
