# Sourced by the install-*.sh scripts: install one Debian package without its recommended packages,
# announced before it happens, with sudo when not root.
# Usage: apt_install TAG PACKAGE WHAT   (TAG prefixes the message; WHAT is what was found missing)
apt_install() {
    local tag="$1" package="$2" what="$3" sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    echo "$tag: $what is missing; installing Debian's '$package' package" \
        "(apt-get install --no-install-recommends $package; needs root or sudo)" >&2
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "$package"
}
