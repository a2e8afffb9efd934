"""Which hosts site.yml can provision (module_utils/ai_cs_host.py), one rule per test, from gathered facts."""

from __future__ import annotations

from ansible.module_utils.ai_cs_host import problems

DEBIAN_12 = {"os_family": "Debian", "distribution": "Debian", "distribution_version": "12.8",
             "distribution_major_version": "12", "pkg_mgr": "apt", "service_mgr": "systemd"}  # fmt: skip


def test_debian_12_with_systemd_is_served():
    assert problems(DEBIAN_12) == []


def test_a_host_of_another_family_is_refused_naming_its_package_manager():
    fedora = {**DEBIAN_12, "os_family": "RedHat", "distribution": "Fedora", "distribution_version": "40",
              "distribution_major_version": "40", "pkg_mgr": "dnf"}  # fmt: skip
    (found,) = problems(fedora)
    assert found.startswith("Fedora 40 is not apt-based: not of the Debian family (os family RedHat, package manager")
    assert "Cause: the roles install Debian's packages with apt." in found and "Fix: " in found


def test_a_debian_family_host_without_apt_is_refused():
    (found,) = problems({**DEBIAN_12, "pkg_mgr": "unknown"})
    assert found.startswith("Debian 12.8 has no apt (os family Debian, package manager unknown).")


def test_a_derivative_is_refused_as_untested():
    (found,) = problems({**DEBIAN_12, "distribution": "Linuxmint", "distribution_major_version": "22"})
    assert "of the Debian family but not Debian or Ubuntu" in found


def test_an_old_release_is_refused():
    (found,) = problems({**DEBIAN_12, "distribution_version": "11.9", "distribution_major_version": "11"})
    assert found.startswith("Debian 11.9 is too old.")


def test_ubuntu_24_is_served_and_22_is_too_old():
    ubuntu = {**DEBIAN_12, "distribution": "Ubuntu", "distribution_version": "24.04",
              "distribution_major_version": "24"}  # fmt: skip
    assert problems(ubuntu) == []
    jammy = {**ubuntu, "distribution_version": "22.04", "distribution_major_version": "22"}
    assert "too old" in problems(jammy)[0]


def test_debian_testing_with_no_version_number_is_served():
    assert problems({**DEBIAN_12, "distribution_version": "n/a", "distribution_major_version": "n/a"}) == []


def test_a_host_without_systemd_is_refused():
    (found,) = problems({**DEBIAN_12, "service_mgr": "sysvinit"})
    assert found.startswith("systemd is missing: the service manager is sysvinit.")


def test_every_problem_is_named_at_once():
    assert len(problems({"os_family": "Alpine", "pkg_mgr": "apk", "service_mgr": "openrc"})) == 2


def test_a_host_without_python3_apt_is_refused_naming_the_package():
    (found,) = problems({**DEBIAN_12, "python": {"executable": "/usr/bin/python3"}}, python_apt=False)
    assert found.startswith("python3-apt is missing (/usr/bin/python3 cannot import apt_pkg).")
    assert "Fix: apt-get install python3-apt" in found


def test_python3_apt_not_asked_is_no_problem():
    assert problems(DEBIAN_12, python_apt=None) == [] and problems(DEBIAN_12, python_apt=True) == []
