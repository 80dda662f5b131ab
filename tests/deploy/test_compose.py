"""docker-compose.yml, Dockerfile and .env.example, checked without a Docker engine.

The compose file is expanded the way compose expands it (a test ``.env`` made from
``.env.example`` with its empty secrets filled in), validated against the Compose
Specification JSON schema, and then held to what newsmon needs: the Airflow components of
``tests/support/airflow_stack.py`` with their environment, healthchecks, the celery
profile, Mailpit, and secrets only from ``.env``.

The schema is the copy in ``/work/shared/data/compose-spec`` when present, else the copy
vendored next to this file (``compose-spec.json``, Apache-2.0, see
``compose-spec.LICENSE``; from github.com/compose-spec/compose-spec).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.deploy.compose_interpolation import (
    InterpolationError,
    interpolate_tree,
    parse_env_file,
    referenced_variables,
)
from tests.deploy.compose_model import (
    DOCKERFILE,
    ENV_EXAMPLE,
    REPO,
    compose,
    compose_strings,
    dotenv_for_tests,
    environment,
    profiles,
    raw_compose,
    services,
)
from tests.support.airflow_stack import (
    API_SERVER_PORT,
    CELERY_ENV,
    CELERY_PROFILE,
    CELERY_WORKER,
    CELERY_WORKER_SERVICE,
    COMPONENTS,
    HTTP_POOL,
    PROJECT_DB_CONN_ENV,
    REQUIRED_ENV,
    SCHEDULER_HEALTH_PORT,
    SMTP_ENV,
    project_db_connection,
)

SHARED_SCHEMA = REPO.parent / "shared" / "data" / "compose-spec" / "compose-spec.json"
VENDORED_SCHEMA = Path(__file__).with_name("compose-spec.json")

#: Services that run Airflow (all get the common environment).
AIRFLOW_SERVICES = (*COMPONENTS, CELERY_WORKER_SERVICE, "init")
#: Long-running services that must report health (compose waits on it).
HEALTHCHECKED = ("postgres", "redis", "mailpit", *COMPONENTS, CELERY_WORKER_SERVICE)
#: Keys whose value is a secret or embeds one.
SECRET_KEY = re.compile(
    r"PASSWORD$|SECRET|FERNET|_CONN_|SQL_ALCHEMY_CONN|DATABASE_URL|BROKER_URL|RESULT_BACKEND"
)


# ------------------------------------------------------------------------------ the schema


def compose_schema() -> dict[str, Any]:
    path = SHARED_SCHEMA if SHARED_SCHEMA.is_file() else VENDORED_SCHEMA
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(schema, dict)
    # The spec says draft-07 (spelled without the '#', which jsonschema does not recognise).
    assert "draft-07" in schema["$schema"]
    return schema


def schema_errors(document: Any) -> list[jsonschema.ValidationError]:
    schema = compose_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    errors = jsonschema.Draft7Validator(schema).iter_errors(document)
    return sorted(errors, key=lambda e: list(map(str, e.absolute_path)))


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    errors = schema_errors(compose())
    assert not errors, "\n".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors
    )


def test_vendored_schema_matches_the_shared_copy() -> None:
    assert (VENDORED_SCHEMA.with_name("compose-spec.LICENSE")).is_file()
    if not SHARED_SCHEMA.is_file():
        pytest.skip(f"no shared copy at {SHARED_SCHEMA}")
    assert json.loads(VENDORED_SCHEMA.read_text()) == json.loads(SHARED_SCHEMA.read_text())


def test_schema_check_catches_a_broken_file() -> None:
    """The validation above is not vacuous: a typo in a service key fails it."""
    broken = json.loads(json.dumps(compose()))
    broken["services"]["scheduler"]["helthcheck"] = broken["services"]["scheduler"].pop(
        "healthcheck"
    )
    assert schema_errors(broken)


# ---------------------------------------------------------------- secrets and the .env file


def test_every_required_variable_is_in_env_example_and_vice_versa() -> None:
    text = "\n".join(compose_strings(raw_compose()))
    required = {name for name, op in referenced_variables(text).items() if op in (":?", "?")}
    example = parse_env_file(ENV_EXAMPLE.read_text(encoding="utf-8"))
    assert required, "compose should require its secrets with ${VAR:?message}"
    assert required <= set(example), f"missing from .env.example: {required - set(example)}"
    placeholders = {key for key, value in example.items() if not value}
    assert required <= placeholders, "required secrets must be empty placeholders in .env.example"
    operators = referenced_variables(text)
    for optional in placeholders - required:  # e.g. SMTP credentials: empty means unused
        assert operators.get(optional) == ":-", f"{optional} is empty but not optional"


@pytest.mark.parametrize("secret", ["POSTGRES_PASSWORD", "AIRFLOW_JWT_SECRET", "REDIS_PASSWORD"])
def test_a_missing_secret_stops_compose_with_its_name(secret: str) -> None:
    env = dotenv_for_tests()
    env[secret] = ""  # exactly what an unfilled copy of .env.example gives
    with pytest.raises(InterpolationError, match=secret):
        interpolate_tree(raw_compose(), env)


def test_no_secret_literals_in_the_compose_file() -> None:
    """Every secret-bearing value comes from a ``${VAR}``; no URL carries a literal password."""
    text = "\n".join(compose_strings(raw_compose()))
    for match in re.finditer(r"://[^:/@\s]*:([^@\s]*)@", text):
        assert match.group(1).startswith("${"), f"literal password in URL: {match.group()}"
    for name, service in raw_compose()["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_KEY.search(key) and value not in (None, ""):
                assert "${" in str(value), f"{name}: {key} is a literal; take it from .env"
    example = parse_env_file(ENV_EXAMPLE.read_text(encoding="utf-8"))
    for key, value in example.items():
        if re.search(r"PASSWORD|SECRET|FERNET", key):
            assert value == "", f".env.example must not carry a value for {key}"


def test_env_and_secrets_stay_out_of_the_image() -> None:
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert ".env" in ignored
    assert ".git/" in ignored


# -------------------------------------------------------------------- the Airflow services


def test_every_component_runs_with_the_same_airflow_command() -> None:
    for name, args in COMPONENTS.items():
        assert name in services(), f"service {name} is missing"
        assert services()[name]["command"] == list(args), name
        assert profiles(name) == [], f"{name} must start without a profile"


def test_celery_worker_exists_only_in_the_celery_profile() -> None:
    worker = services()[CELERY_WORKER_SERVICE]
    assert worker["command"] == list(CELERY_WORKER)
    assert profiles(CELERY_WORKER_SERVICE) == [CELERY_PROFILE]
    assert profiles("redis") == [CELERY_PROFILE]
    in_profile = [name for name in services() if CELERY_PROFILE in profiles(name)]
    assert sorted(in_profile) == sorted([CELERY_WORKER_SERVICE, "redis"])
    # Nothing else runs a celery worker.
    for name, service in services().items():
        if name != CELERY_WORKER_SERVICE:
            assert service.get("command", [])[:2] != list(CELERY_WORKER), name


@pytest.mark.parametrize("service", AIRFLOW_SERVICES)
def test_every_airflow_service_has_the_required_environment(service: str) -> None:
    env = environment(service)
    missing = sorted(name for name in REQUIRED_ENV if not env.get(name))
    assert not missing, f"{service} lacks {missing}"


def test_airflow_services_agree_on_every_required_setting() -> None:
    """The JWT secret, databases and URLs must be identical in every component."""
    reference = environment("api-server")
    for service in AIRFLOW_SERVICES:
        env = environment(service)
        assert {k: env[k] for k in REQUIRED_ENV} == {k: reference[k] for k in REQUIRED_ENV}


@pytest.mark.parametrize("service", ["scheduler", CELERY_WORKER_SERVICE])
def test_celery_settings_reach_the_scheduler_and_workers(service: str) -> None:
    env = environment(service)
    assert all(env.get(name) for name in CELERY_ENV)
    assert env["AIRFLOW__CELERY__BROKER_URL"] == (
        f"redis://:{dotenv_for_tests()['REDIS_PASSWORD']}@redis:6379/0"
    )
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://airflow:")


def test_executor_defaults_to_local_and_switches_from_env() -> None:
    assert environment("scheduler")["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    env = dotenv_for_tests() | {"AIRFLOW__CORE__EXECUTOR": "CeleryExecutor"}
    celery = interpolate_tree(raw_compose(), env)
    for service in AIRFLOW_SERVICES:
        assert celery["services"][service]["environment"]["AIRFLOW__CORE__EXECUTOR"] == (
            "CeleryExecutor"
        )


def test_tasks_reach_the_api_server_by_service_name() -> None:
    env = environment("scheduler")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == (
        f"http://api-server:{API_SERVER_PORT}/execution/"
    )
    assert f":{API_SERVER_PORT}" in " ".join(services()["api-server"]["ports"])


def test_project_database_connection_matches_the_cli_database() -> None:
    env = environment("scheduler")
    assert env[PROJECT_DB_CONN_ENV] == project_db_connection(env["NEWSMON_DATABASE_URL"])
    password = dotenv_for_tests()["NEWSMON_DB_PASSWORD"]
    assert env[PROJECT_DB_CONN_ENV] == f"postgresql://newsmon:{password}@postgres:5432/newsmon"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres:5432/airflow")
    assert env["NEWSMON_CONFIG_PATH"] == "/opt/newsmon/newsmon.yaml"


def test_alert_email_goes_to_mailpit() -> None:
    env = environment("scheduler")
    assert {name: env[name] for name in SMTP_ENV} == {
        "NEWSMON_SMTP_HOST": "mailpit",
        "NEWSMON_SMTP_PORT": "1025",
        "NEWSMON_SMTP_STARTTLS": "false",
    }
    assert services()["mailpit"]["image"].startswith("axllent/mailpit")
    assert profiles("mailpit") == []


@pytest.mark.parametrize("service", HEALTHCHECKED)
def test_long_running_services_have_healthchecks(service: str) -> None:
    check = services()[service].get("healthcheck")
    assert check, f"{service} has no healthcheck"
    assert not check.get("disable")
    assert check["test"][0] in ("CMD", "CMD-SHELL") and len(check["test"]) > 1


def test_healthchecks_probe_the_ports_the_components_serve() -> None:
    assert f"localhost:{API_SERVER_PORT}/" in " ".join(
        services()["api-server"]["healthcheck"]["test"]
    )
    scheduler = " ".join(services()["scheduler"]["healthcheck"]["test"])
    assert f"localhost:{SCHEDULER_HEALTH_PORT}/health" in scheduler
    assert environment("scheduler")["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "True"


def test_airflow_waits_for_the_init_job_and_the_database() -> None:
    for service in [*COMPONENTS, CELERY_WORKER_SERVICE]:
        depends = services()[service]["depends_on"]
        assert depends["init"]["condition"] == "service_completed_successfully", service
        assert depends["postgres"]["condition"] == "service_healthy", service


def test_dependencies_exist_and_respect_profiles() -> None:
    """A dependency on a service in a profile the dependent is not in would stop
    ``docker compose up`` without that profile, unless it is ``required: false``."""
    for name, service in services().items():
        depends = service.get("depends_on", {})
        for target, spec in depends.items() if isinstance(depends, dict) else []:
            assert target in services(), f"{name} depends on unknown {target}"
            missing_profiles = set(profiles(target)) - set(profiles(name))
            if profiles(target) and missing_profiles:
                assert spec.get("required") is False, f"{name} -> {target}"


def test_init_job_prepares_both_databases_and_the_pool() -> None:
    init = services()["init"]
    script = "\n".join(init["command"])
    for step in (
        "airflow db migrate",
        f"airflow pools set {HTTP_POOL}",
        "newsmon db upgrade",
        "newsmon config apply",
    ):
        assert step in script, step
    assert init["restart"] == "no"
    assert "profiles" not in init


def test_mounted_paths_exist_in_the_repository() -> None:
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name}: {source} does not exist"


# ------------------------------------------------------------------------------ Dockerfile


def dockerfile_lines() -> list[str]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def dockerfile_args() -> dict[str, str]:
    args = {}
    for line in dockerfile_lines():
        if line.startswith("ARG ") and "=" in line:
            key, _, value = line[4:].partition("=")
            args[key.strip()] = value.strip()
    return args


def constraint_pin(package: str) -> str:
    for line in (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines():
        name, _, version = line.partition("==")
        if name.strip().lower() == package:
            return version.strip()
    raise AssertionError(f"{package} is not pinned in constraints.txt")


def test_dockerfile_extends_airflow_3_3_with_the_pinned_version() -> None:
    args = dockerfile_args()
    from_lines = [line for line in dockerfile_lines() if line.startswith("FROM ")]
    assert len(from_lines) == 2, "a build stage for the wheel, then the image"
    pinned = constraint_pin("apache-airflow")
    for from_line in from_lines:  # both stages: the same Python as the image runs
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], from_line.split()[1])
        assert re.fullmatch(r"apache/airflow:3\.3\.\d+-python3\.11", image), image
        assert image == f"apache/airflow:{pinned}-python3.11"
    assert args["AIRFLOW_VERSION"] == pinned


def test_dockerfile_builds_the_c_extension_and_fails_without_it() -> None:
    """The Airflow image has no compiler: a build stage makes the wheel with gcc (and
    setup.py, which declares the extension), and the image refuses a wheel without it."""
    lines = dockerfile_lines()
    build_stage = lines[: [i for i, line in enumerate(lines) if line.startswith("FROM ")][1]]
    assert any("apt-get install" in line and "gcc" in line for line in build_stage)
    assert any(line.startswith("COPY") and "setup.py" in line for line in build_stage)
    assert any("pip wheel" in line for line in build_stage)
    (install,) = [line for line in lines if "pip install" in line]
    assert 'python -c "import ingest.topics._textscan"' in install


def test_dockerfile_installs_newsmon_with_the_constraints() -> None:
    (install,) = [line for line in dockerfile_lines() if "pip install" in line]
    assert re.search(r"(--constraint|-c)\s+\S*constraints\.txt", install)
    assert "newsmon[postgres] @ file://" in install
    for provider in ("standard", "celery", "postgres", "smtp"):
        assert f"apache-airflow-providers-{provider}" in install
    copies = [line for line in dockerfile_lines() if line.startswith("COPY")]
    assert any(line.endswith("dags/ /opt/airflow/dags/") for line in copies)
    assert any(line.endswith("plugins/ /opt/airflow/plugins/") for line in copies)


def test_alert_links_point_at_the_plugin_pages() -> None:
    plugin = (REPO / "plugins" / "newsmon_plugin.py").read_text(encoding="utf-8")
    prefix = re.search(r'^URL_PREFIX = "([^"]+)"', plugin, re.MULTILINE)
    assert prefix, "plugins/newsmon_plugin.py no longer defines URL_PREFIX"
    env = environment("scheduler")
    assert env["NEWSMON_BASE_URL"] == env["AIRFLOW__API__BASE_URL"] + prefix.group(1)
