# Shared by get-cifar10.sh and get-stl10.sh (sourced, not run): a resumable download of one archive,
# checked against its published MD5.
#
# The sourcing script sets NAME (its name, for messages), URL, MD5, ARCHIVE (where the archive lives),
# ARCHIVE_GIVEN (non-empty when the user pointed ARCHIVE at a file of their own: never downloaded then)
# and optionally SIZE_NOTE (shown with the download line).

die() { echo "$NAME: $*" >&2; exit 1; }
command -v md5sum >/dev/null || die "md5sum is needed (coreutils)"
command -v tar >/dev/null || die "tar is needed"

md5_ok() { [[ -f "$1" && "$(md5sum "$1" | cut -d' ' -f1)" == "$MD5" ]]; }

download() {
    local partial="$ARCHIVE.part"
    echo "$NAME: downloading $URL${SIZE_NOTE:+ ($SIZE_NOTE)}"
    if command -v curl >/dev/null; then
        # -C - resumes a partial file; --retry covers dropped connections
        curl -fL --retry 5 --retry-delay 5 -C - -o "$partial" "$URL" \
            || die "download failed; partial data kept in $partial (re-run to resume, or delete it to start over)"
    elif command -v wget >/dev/null; then
        wget -c --tries=5 -O "$partial" "$URL" \
            || die "download failed; partial data kept in $partial (re-run to resume, or delete it to start over)"
    else
        die "curl or wget is needed"
    fi
    mv "$partial" "$ARCHIVE"
}

# Leaves a verified archive at $ARCHIVE: the one already there, or a fresh download.
fetch_verified_archive() {
    if ! md5_ok "$ARCHIVE"; then
        [[ -n "$ARCHIVE_GIVEN" ]] && die "$ARCHIVE is missing or its MD5 is not $MD5"
        rm -f "$ARCHIVE"
        download
        if ! md5_ok "$ARCHIVE"; then
            mv "$ARCHIVE" "$ARCHIVE.bad"
            die "MD5 of the download is $(md5sum "$ARCHIVE.bad" | cut -d' ' -f1), expected $MD5 (kept as $ARCHIVE.bad; re-run to download again)"
        fi
    fi
    echo "$NAME: archive verified (MD5 $MD5)"
}
