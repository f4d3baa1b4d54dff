"""Reading an Nginx config tree (a copy of /etc/nginx) for log formats, logs and servers."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from parsers.log_format import PREDEFINED, compile_format, split_escape
from timeline.errors import UsageError
from timeline.nginxconf import (
    NginxConf,
    ServerBlock,
    describe,
    error_level_for,
    format_for,
    read_nginx_conf,
)

DATA = Path(__file__).parent / "data" / "nginxconf" / "etc-nginx"

MAIN = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" "$http_x_forwarded_for"'
)
UPSTREAMINFO = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" rt=$request_time uct="$upstream_connect_time" '
    'uht="$upstream_header_time" urt="$upstream_response_time" ua="$upstream_addr" '
    'us="$upstream_status"'
)
JSON = (
    'escape=json {"time":"$time_iso8601","remote_addr":"$remote_addr","request":"$request",'
    '"status":$status,"body_bytes_sent":$body_bytes_sent,"request_time":$request_time,'
    '"upstream_response_time":"$upstream_response_time","http_referer":"$http_referer",'
    '"http_user_agent":"$http_user_agent"}'
)
ACCESS_LOGS = {
    "/var/log/nginx/access.log": "main",
    "/var/log/nginx/default.access.log": "combined",
    "/var/log/nginx/shop.access.log": "upstreaminfo",
    "/var/log/nginx/shop.json.log": "json_combined",
    "/var/log/nginx/shop.static.log": "main",
}


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The sample /etc/nginx copied the way an SRE would (symlinks kept) to a temp folder."""
    dst = tmp_path / "outage" / "etc-nginx"
    shutil.copytree(DATA, dst, symlinks=True)
    assert (dst / "sites-enabled" / "shop").is_symlink()
    return dst


@pytest.fixture
def conf(copy: Path) -> NginxConf:
    return read_nginx_conf(copy / "nginx.conf", root="/etc/nginx")


def test_sample_tree_keeps_its_symlink() -> None:
    link = DATA / "sites-enabled" / "shop"
    assert link.is_symlink() and os.readlink(link) == "../sites-available/shop"


def test_formats(conf: NginxConf) -> None:
    assert conf.formats == {
        "combined": PREDEFINED["combined"],
        "main": MAIN,
        "upstreaminfo": UPSTREAMINFO,
        "json_combined": JSON,
    }  # "tcp" is a stream {} format: not an HTTP one
    assert conf.formats["main"] == PREDEFINED["main"]
    assert split_escape(conf.formats["json_combined"])[1] == "json"
    for fmt in conf.formats.values():
        compile_format(*split_escape(fmt))
    assert conf.where["log_format upstreaminfo"] == "nginx.conf:29"
    assert conf.where["log_format json_combined"] == "conf.d/json-logging.conf:2"


def test_access_and_error_logs(conf: NginxConf) -> None:
    # off (/healthz), syslog:, memory: and the stream {} log are left out
    assert conf.access_logs == ACCESS_LOGS
    assert conf.error_logs == {
        "/var/log/nginx/error.log": "warn",
        "/var/log/nginx/default.error.log": "error",
        "/var/log/nginx/shop.error.log": "notice",
    }
    assert conf.where["access_log /var/log/nginx/shop.access.log"] == "sites-enabled/shop:16"
    assert conf.notes == [
        "nginx.conf:6: error_log syslog:server=10.20.0.9:514,tag=nginx_error is not a file in "
        "the log folder",
        "nginx.conf:36: access_log syslog:server=10.20.0.9:514,facility=local7,tag=nginx,"
        "severity=info is not a file in the log folder",
        "nginx.conf:37: access_log memory:32m is not a file in the log folder",
    ]
    assert conf.errors == []


def test_servers(conf: NginxConf) -> None:
    names = ["shop.example.com", "www.shop.example.com"]
    assert conf.servers == [
        ServerBlock(
            "conf.d/default.conf", 2, ["80 default_server", "[::]:80 default_server"], ["_"], True
        ),
        ServerBlock("sites-enabled/shop", 1, ["80", "[::]:80"], names, False),
        ServerBlock("sites-enabled/shop", 8, ["443 ssl http2", "[::]:443 ssl http2"], names, False),
    ]  # the stream {} server on 5432 is not an HTTP server
    assert [s.ssl for s in conf.servers] == [False, False, True]


def test_files_unlinked_sites_and_root(conf: NginxConf, copy: Path) -> None:
    assert [os.path.relpath(f, copy) for f in conf.files] == [
        "nginx.conf",
        "modules-enabled/50-mod-http-geoip2.conf",
        "mime.types",
        "conf.d/default.conf",
        "conf.d/json-logging.conf",
        "conf.d/upstreams.conf",
        "sites-enabled/shop",
    ]
    assert conf.unlinked_sites == ["sites-available/blog"]
    assert conf.root == "/etc/nginx"
    assert "/var/log/nginx/blog.access.log" not in conf.access_logs


def test_root_is_guessed_from_the_copy(conf: NginxConf, copy: Path) -> None:
    guessed = read_nginx_conf(copy / "nginx.conf")
    assert guessed == conf  # never the /etc/nginx of the machine running the tests
    assert all(f.startswith(str(copy)) for f in guessed.files)
    by_folder = read_nginx_conf(copy)
    assert by_folder.files == conf.files


def test_absolute_symlink_into_sites_available(copy: Path) -> None:
    (copy / "sites-enabled" / "blog").symlink_to("/etc/nginx/sites-available/blog")
    conf = read_nginx_conf(copy / "nginx.conf", root="/etc/nginx")
    assert conf.unlinked_sites == []
    assert conf.access_logs["/var/log/nginx/blog.access.log"] == "main"
    assert conf.error_logs["/var/log/nginx/blog.error.log"] == "info"
    assert conf.servers[1] == ServerBlock(
        "sites-enabled/blog", 2, ["8080"], ["blog.example.com"], False
    )


def test_copy_without_symlinks_is_not_unlinked(copy: Path) -> None:
    link = copy / "sites-enabled" / "shop"
    link.unlink()
    shutil.copyfile(copy / "sites-available" / "shop", link)  # cp -r dereferences links
    conf = read_nginx_conf(copy / "nginx.conf", root="/etc/nginx")
    assert conf.unlinked_sites == ["sites-available/blog"]


def test_describe(conf: NginxConf, copy: Path) -> None:
    lines = describe(conf)
    assert lines[0] == (
        f"nginx config {copy / 'nginx.conf'}: 7 files read (absolute paths "
        f"under /etc/nginx read from {copy})"
    )
    assert (
        "server _ (conf.d/default.conf:2): listen 80 default_server, [::]:80 "
        "default_server [default server]"
    ) in lines
    assert (
        "server shop.example.com www.shop.example.com (sites-enabled/shop:8): listen "
        "443 ssl http2, [::]:443 ssl http2"
    ) in lines
    assert (
        "access_log /var/log/nginx/shop.access.log: log_format upstreaminfo (sites-enabled/shop:16)"
    ) in lines
    assert "error_log /var/log/nginx/error.log: level warn (nginx.conf:5)" in lines
    assert "sites-available/blog has no link in sites-enabled" in lines


@pytest.mark.parametrize(
    "name",
    [
        "shop.access.log",
        "shop.access.log.1",
        "shop.access.log.2.gz",
        "web-1/shop.access.log.12.gz",
        "/srv/outage/lb-1/shop.access.log-20230320.xz",
    ],
)
def test_format_for_rotated_names(conf: NginxConf, name: str) -> None:
    assert format_for(conf, name) == (
        UPSTREAMINFO,
        'log_format "upstreaminfo" from nginx.conf:29 '
        "(access_log /var/log/nginx/shop.access.log at sites-enabled/shop:16)",
    )


def test_format_for_other_files(conf: NginxConf) -> None:
    fmt, why = format_for(conf, "shop.json.log.1.gz")
    assert fmt == JSON and why.startswith('log_format "json_combined" from conf.d/json-')
    assert format_for(conf, "access.log.2.gz") == (
        None,
        'log_format "main" from nginx.conf:25 is the combined/main layout '
        "(access_log /var/log/nginx/access.log at nginx.conf:35)",
    )
    fmt, why = format_for(conf, "default.access.log")
    assert fmt is None and why.startswith('log_format "combined" (built-in) is the combined')
    assert format_for(conf, "other.log") == (
        None,
        "no access_log in the nginx config writes other.log",
    )
    fmt, why = format_for(conf, "stream.log.1")
    assert fmt is None and "stream {} access_log (nginx.conf:48)" in why
    # a name that only starts like a configured one is not that log
    assert format_for(conf, "access.log.old")[0] is None
    assert format_for(conf, "shop.access.log.1")[0] == UPSTREAMINFO


def test_format_for_variables_ambiguity_and_undefined() -> None:
    conf = NginxConf(
        formats={"combined": PREDEFINED["combined"], "up": UPSTREAMINFO},
        access_logs={
            "/var/log/nginx/$host.access.log": "up",
            "/var/log/a/api.access.log": "combined",
            "/var/log/b/api.access.log": "up",
            "/var/log/nginx/x.log": "missing",
        },
    )
    assert format_for(conf, "shop.example.com.access.log.1")[0] == UPSTREAMINFO
    fmt, why = format_for(conf, "api.access.log")  # exact names win over $host
    assert fmt is None and "different log_formats" in why
    fmt, why = format_for(conf, "x.log")
    assert fmt is None and 'log_format "missing" is not defined' in why


def test_error_level_for(conf: NginxConf) -> None:
    assert error_level_for(conf, "shop.error.log.3.gz") == (
        "notice",
        "error_log /var/log/nginx/shop.error.log notice at sites-enabled/shop:18: notice and "
        "more severe messages",
    )
    assert error_level_for(conf, "error.log")[0] == "warn"
    assert error_level_for(conf, "default.error.log.1")[0] == "error"
    assert error_level_for(conf, "blog.error.log") == (
        None,
        "no error_log in the nginx config writes blog.error.log",
    )


def test_broken_config_reports_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "nginx.conf").write_text(
        "http {\n"
        "    log_format up '$remote_addr $status';\n"
        "    server {\n"
        "        listen 80\n"
        "    }\n"
        "    include conf.d/*.conf;\n"
        "    include snippets/gone.conf;\n"
        "    error_log /var/log/nginx/e.log warning;\n"
        "    server {\n"
        "        listen 8080;\n"
        "        access_log /var/log/nginx/ok.log up;\n"
        "    }\n"
        "}\n"
    )
    (tmp_path / "conf.d" / "bad.conf").write_text("server {\n    listen 81;\n")
    conf = read_nginx_conf(tmp_path / "nginx.conf")
    assert conf.errors == [
        'nginx.conf:4: directive "listen" is not terminated by ";"',
        'conf.d/bad.conf:2: unexpected end of file, expecting "}"',
        "nginx.conf:7: include snippets/gone.conf: no such file or directory "
        "(looked for snippets/gone.conf)",
        'nginx.conf:8: invalid log level "warning" in error_log',
    ]
    # reading goes on past the errors
    assert conf.access_logs == {"/var/log/nginx/ok.log": "up"}
    assert [s.listen for s in conf.servers] == [[], ["8080"]]
    assert 'config error: nginx.conf:4: directive "listen" is not terminated by ";"' in (
        describe(conf)
    )


def test_include_loop_and_duplicate_format(tmp_path: Path) -> None:
    (tmp_path / "nginx.conf").write_text(
        "http {\n    log_format combined '$status';\n    include loop.conf;\n}\n"
    )
    (tmp_path / "loop.conf").write_text("include loop.conf;\n")
    conf = read_nginx_conf(tmp_path / "nginx.conf")
    assert conf.errors == [
        "nginx.conf:2: duplicate log_format name 'combined' (first defined at Nginx's built-in)",
        "loop.conf: included from itself (include loop)",
    ]
    assert conf.formats == {"combined": PREDEFINED["combined"]}


@pytest.mark.parametrize("make", ["missing", "folder"])
def test_unusable_path_is_a_one_line_usage_error(tmp_path: Path, make: str) -> None:
    target = tmp_path / "etc-nginx"
    if make == "folder":
        target.mkdir()
    with pytest.raises(UsageError) as info:
        read_nginx_conf(target)
    message = str(info.value)
    assert message.startswith(f"--nginx-conf {target}: ")
    assert "\n" not in message


def test_relative_root_is_refused(copy: Path) -> None:
    with pytest.raises(UsageError, match="is not absolute"):
        read_nginx_conf(copy / "nginx.conf", root="etc/nginx")


def test_formats_read_sample_lines(conf: NginxConf) -> None:
    line = (
        b'10.0.0.7 - - [20/Mar/2023:11:02:03 +0000] "GET /cart HTTP/1.1" 502 157 "-" '
        b'"curl/8.0" rt=0.031 uct="0.001, -" uht="-, -" urt="0.030, 0.000" '
        b'ua="10.20.1.11:8080, 10.20.1.12:8080" us="502, 502"'
    )
    fmt, _ = format_for(conf, "shop.access.log")
    assert fmt is not None
    assert compile_format(*split_escape(fmt)).regex.match(line)
    json_line = (
        b'{"time":"2023-03-20T11:02:03+00:00","remote_addr":"10.0.0.7",'
        b'"request":"GET / HTTP/1.1","status":200,"body_bytes_sent":12,'
        b'"request_time":0.004,"upstream_response_time":"0.004",'
        b'"http_referer":"","http_user_agent":"curl/8.0"}'
    )
    fmt, _ = format_for(conf, "shop.json.log")
    assert fmt is not None
    assert compile_format(*split_escape(fmt)).regex.match(json_line)
