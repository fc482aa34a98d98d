#!/usr/bin/env bash
# Tests of the lsce command-line tool: test_cli.sh LSCE MKNPY
#   LSCE   the built lsce executable
#   MKNPY  the built mknpy helper (writes valid and broken .npy files)
# Uses bash, coreutils and grep only. Prints one line per check; exits 1 if any failed.
set -u
if [[ $# -ne 2 ]]; then
    echo "usage: test_cli.sh LSCE MKNPY" >&2
    exit 2
fi
LSCE=$(realpath "$1")
MKNPY=$(realpath "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1

passed=0
failed=0

# report NAME PROBLEM... : a check passes when no problem was listed.
report() {
    local name=$1
    shift
    if [[ $# -eq 0 ]]; then
        passed=$((passed + 1))
        echo "ok   $name"
    else
        failed=$((failed + 1))
        echo "FAIL $name: $*"
        sed 's/^/     stderr: /' stderr 2>/dev/null | head -5
    fi
}

mk() {
    "$MKNPY" "$@" || { echo "mknpy $* failed"; exit 1; }
}

# The JSON line of a successful run; $1 is the expected n_tokens.
json_pattern() {
    local number='(-?[0-9][-+0-9.e]*|null)'
    echo "^\{\"loss\": $number, \"nll\": $number, \"n_tokens\": $1, \"n_correct\": [0-9]+, \"accuracy\": $number, \"isa\": \"[a-z0-9]+\"\}$"
}

# expect_success NAME N_TOKENS ARGS... : `lsce run ARGS` exits 0 with one JSON line on stdout.
expect_success() {
    local name=$1 tokens=$2
    shift 2
    local problems=()
    "$LSCE" run "$@" >stdout 2>stderr
    local status=$?
    [[ $status -eq 0 ]] || problems+=("exit status $status")
    [[ $(wc -l <stdout) -eq 1 ]] || problems+=("stdout has $(wc -l <stdout) lines")
    grep -Eq "$(json_pattern "$tokens")" stdout || problems+=("stdout: $(head -c 300 stdout)")
    [[ ! -s stderr ]] || problems+=("stderr not empty")
    report "$name" "${problems[@]}"
}

# expect_failure NAME ARGS... : `lsce run ARGS --grad-out out/grad.npy --loss-out out/loss.npy`
# exits 2 with one "lsce: " line on stderr, nothing on stdout, the existing out/grad.npy unchanged,
# no out/loss.npy and no temporary file.
expect_failure() {
    local name=$1
    shift
    rm -rf out && mkdir out && printf 'previous' >out/grad.npy
    "$LSCE" run "$@" --grad-out out/grad.npy --loss-out out/loss.npy >stdout 2>stderr
    check_failure "$name" $?
}

# check_failure NAME STATUS : the checks of expect_failure on a command that already ran.
check_failure() {
    local name=$1 status=$2
    local problems=()
    [[ $status -eq 2 ]] || problems+=("exit status $status")
    [[ ! -s stdout ]] || problems+=("stdout not empty")
    [[ $(wc -l <stderr) -eq 1 ]] || problems+=("stderr has $(wc -l <stderr) lines")
    [[ $(head -c 6 stderr) == "lsce: " ]] || problems+=("stderr does not start with 'lsce: '")
    [[ ! -e out || $(cat out/grad.npy) == previous ]] || problems+=("out/grad.npy was replaced")
    [[ ! -e out/loss.npy ]] || problems+=("out/loss.npy was written")
    local leftovers
    leftovers=$(find . -name '*.tmp.*' | head -3)
    [[ -z $leftovers ]] || problems+=("temporary files left: $leftovers")
    report "$name" "${problems[@]}"
}

# ---- commands other than run --------------------------------------------------------------

"$LSCE" >stdout 2>stderr
status=$?
problems=()
[[ $status -eq 2 ]] || problems+=("exit status $status")
grep -q '^usage: lsce' stderr || problems+=("no usage on stderr")
[[ ! -s stdout ]] || problems+=("stdout not empty")
report "no arguments: usage on stderr, exit 2" "${problems[@]}"

for help in --help help; do
    "$LSCE" "$help" >stdout 2>stderr
    status=$?
    problems=()
    [[ $status -eq 0 ]] || problems+=("exit status $status")
    grep -q '^usage: lsce' stdout || problems+=("no usage on stdout")
    grep -q 'null' stdout || problems+=("--help does not say non-finite numbers print as null")
    report "lsce $help" "${problems[@]}"
done

"$LSCE" --version >stdout 2>stderr
report "lsce --version" $( (grep -Eqx 'lsce [0-9]+\.[0-9]+\.[0-9]+' stdout) || echo "stdout: $(cat stdout)")

"$LSCE" info >stdout 2>stderr
status=$?
problems=()
[[ $status -eq 0 ]] || problems+=("exit status $status")
for field in 'version:' 'cpu features:' 'variant chosen:' 'variants:'; do
    grep -q "^$field" stdout || problems+=("no '$field' line")
done
grep -q 'scalar (available)' stdout || problems+=("scalar not listed as available")
report "lsce info" "${problems[@]}"
unavailable=$(grep -o '[a-z0-9]* (not available)' stdout | head -1 | cut -d' ' -f1)

"$LSCE" bogus >stdout 2>stderr
check_failure "unknown command" $?

# ---- valid runs ---------------------------------------------------------------------------

# 8 rows x 50 classes; rows 3 and 7 ignored (every 4th): 6 tokens.
mk logits.npy --descr '<f4' --shape 8,50
mk targets.npy --descr '<i8' --shape 8 --classes 50 --ignore-every 4
mk targets_i4.npy --descr '<i4' --shape 8 --classes 50 --ignore-every 4

expect_success "run prints the JSON object" 6 --logits logits.npy --targets targets.npy \
    --smoothing 0.1
cp stdout baseline.json

expect_success "run with every option" 6 --logits=logits.npy --targets=targets.npy \
    --smoothing=0.2 --convention others --kl --ignore-index -100 --reduction sum --isa scalar \
    --grad-out grad.npy --loss-out loss.npy
report "--isa scalar runs the scalar variant" $( (grep -q '"isa": "scalar"' stdout) || echo "$(cat stdout)")

# A v1.0 preamble padded to 64 bytes: 128 for these shapes.
problems=()
[[ $(stat -c %s grad.npy) -eq $((128 + 8 * 50 * 4)) ]] || problems+=("grad.npy: $(stat -c %s grad.npy) bytes")
[[ $(stat -c %s loss.npy) -eq $((128 + 8 * 4)) ]] || problems+=("loss.npy: $(stat -c %s loss.npy) bytes")
[[ $(head -c 8 grad.npy | od -An -tx1 | tr -d ' ') == 934e554d50590100 ]] || problems+=("grad.npy: bad magic/version")
[[ $(head -c 128 grad.npy | tail -c 1 | od -An -c | tr -d ' ') == '\n' ]] || problems+=("grad.npy: header does not end in newline")
report "--grad-out and --loss-out write .npy files of the right size" "${problems[@]}"

expect_success "the gradient file reads back as logits" 6 --logits grad.npy --targets targets.npy

for convention in uniform others seed; do
    expect_success "--convention $convention" 6 --logits logits.npy --targets targets.npy \
        --smoothing 0.1 --convention "$convention"
done

"$LSCE" run --logits logits.npy --targets targets.npy --grad-out out_of_place.npy >/dev/null 2>&1
"$LSCE" run --logits logits.npy --targets targets.npy --grad-out in_place.npy --in-place \
    >/dev/null 2>stderr
report "--in-place writes the same gradient bytes" $(cmp -s out_of_place.npy in_place.npy || echo differ)

# 16-bit storage: --dtype rounds '<f4' logits; the gradient file is '<f2' for f16, '<f4' else.
for dtype in bf16 f16; do
    expect_success "--dtype $dtype" 6 --logits logits.npy --targets targets.npy --dtype "$dtype" \
        --smoothing 0.1
done
"$LSCE" run --logits logits.npy --targets targets.npy --dtype f16 --grad-out g16.npy >/dev/null 2>stderr
problems=()
[[ $(stat -c %s g16.npy) -eq $((128 + 8 * 50 * 2)) ]] || problems+=("g16.npy: $(stat -c %s g16.npy) bytes")
grep -q "'descr': '<f2'" g16.npy || problems+=("g16.npy is not '<f2'")
report "--dtype f16 writes an fp16 gradient file" "${problems[@]}"
expect_success "'<f2' logits are read as fp16" 6 --logits g16.npy --targets targets.npy
"$LSCE" run --logits logits.npy --targets targets.npy --dtype bf16 --grad-out gb.npy >/dev/null 2>&1
"$LSCE" run --logits logits.npy --targets targets.npy --dtype bf16 --grad-out gb_in_place.npy \
    --in-place >/dev/null 2>stderr
report "--dtype bf16 --in-place writes the same gradient bytes" \
    $(cmp -s gb.npy gb_in_place.npy || echo differ)
expect_failure "--in-place with another --grad-dtype" --logits logits.npy --targets targets.npy \
    --dtype bf16 --grad-dtype f32 --in-place
expect_failure "--dtype bf16 for '<f2' logits" --logits g16.npy --targets targets.npy --dtype bf16
expect_failure "--dtype f64" --logits logits.npy --targets targets.npy --dtype f64

"$LSCE" run --logits logits.npy --targets targets_i4.npy --smoothing 0.1 >stdout 2>stderr
report "'<i4' targets give the same result as '<i8'" $(cmp -s stdout baseline.json || echo "$(cat stdout)")

for version in 2 3; do
    mk logits_v$version.npy --descr '<f4' --shape 8,50 --version $version
    "$LSCE" run --logits logits_v$version.npy --targets targets.npy --smoothing 0.1 >stdout 2>stderr
    report "format version $version.0 reads" $(cmp -s stdout baseline.json || echo "$(cat stdout stderr)")
done

mk logits_reordered.npy --descr '<f4' --shape 8,50 \
    --dict $'{ "shape" :( 8 ,50, ) ,\n\t\'fortran_order\':False , \'descr\' : "<f4"}  '
"$LSCE" run --logits logits_reordered.npy --targets targets.npy --smoothing 0.1 >stdout 2>stderr
report "header keys in any order, any whitespace" $(cmp -s stdout baseline.json || echo "$(cat stdout stderr)")

"$LSCE" run --logits logits.npy --targets targets.npy --reduction sum >sum.json 2>stderr
"$LSCE" run --logits logits.npy --targets targets.npy --reduction none >none.json 2>stderr
report "--reduction none: loss is the sum of the row losses" \
    $([[ $(grep -o '"loss": [^,]*' sum.json) == $(grep -o '"loss": [^,]*' none.json) ]] || echo "$(cat sum.json none.json)")

mk empty_logits.npy --descr '<f4' --shape 0,50
mk empty_targets.npy --descr '<i8' --shape 0
expect_success "an empty batch" 0 --logits empty_logits.npy --targets empty_targets.npy \
    --grad-out empty_grad.npy
report "an empty batch: zeros" $(grep -q '"loss": 0, "nll": 0, "n_tokens": 0, "n_correct": 0, "accuracy": 0' stdout || echo "$(cat stdout)")

mk nan_logits.npy --descr '<f4' --shape 8,50 --nan-at 7
expect_success "a NaN logit" 6 --logits nan_logits.npy --targets targets.npy
report "a NaN loss prints as null" $(grep -q '"loss": null' stdout || echo "$(cat stdout)")

# ---- broken files -------------------------------------------------------------------------

mk truncated.npy --descr '<f4' --shape 8,50 --truncate 4
expect_failure "truncated data" --logits truncated.npy --targets targets.npy
mk cut_header.npy --descr '<f4' --shape 8,50 --truncate 1700
expect_failure "truncated header" --logits cut_header.npy --targets targets.npy
mk trailing.npy --descr '<f4' --shape 8,50 --append 4
expect_failure "bytes after the data" --logits trailing.npy --targets targets.npy
: >empty.npy
expect_failure "an empty file" --logits empty.npy --targets targets.npy
printf 'this is not a .npy file at all\n' >text.npy
expect_failure "no magic" --logits text.npy --targets targets.npy
{ printf '\x93NUMPY\x04\x00\x36\x00'; printf "%-53s\n" "{'descr': '<f4', 'fortran_order': False, 'shape': (8, 50), }"; } >v4.npy
expect_failure "format version 4.0" --logits v4.npy --targets targets.npy
mk huge_header.npy --descr '<f4' --shape 8,50 --version 2 --header-len 100000
expect_failure "header larger than 64 KiB" --logits huge_header.npy --targets targets.npy
expect_failure "missing file" --logits no_such_file.npy --targets targets.npy
expect_failure "a directory" --logits . --targets targets.npy

mk f8.npy --descr '<f8' --shape 8,50
expect_failure "logits dtype '<f8'" --logits f8.npy --targets targets.npy
mk big_endian.npy --descr '>f4' --shape 8,50
expect_failure "logits dtype '>f4'" --logits big_endian.npy --targets targets.npy
mk float_targets.npy --descr '<f4' --shape 8
expect_failure "targets dtype '<f4'" --logits logits.npy --targets float_targets.npy
mk targets_2d.npy --descr '<i8' --shape 8,1 --classes 50
expect_failure "2-D targets" --logits logits.npy --targets targets_2d.npy
mk logits_1d.npy --descr '<f4' --shape 400
expect_failure "1-D logits" --logits logits_1d.npy --targets targets.npy
mk logits_3d.npy --descr '<f4' --shape 2,4,50
expect_failure "3-D logits" --logits logits_3d.npy --targets targets.npy
mk targets_7.npy --descr '<i8' --shape 7 --classes 50
expect_failure "targets length != rows" --logits logits.npy --targets targets_7.npy
mk fortran.npy --descr '<f4' --shape 8,50 --fortran
expect_failure "fortran_order True" --logits fortran.npy --targets targets.npy
mk overflow.npy --descr '<f4' --shape 4611686018427387904,4611686018427387904 --data-bytes 0
expect_failure "shape whose size overflows" --logits overflow.npy --targets targets.npy

# bad_dict NAME DICT : logits whose header dict is DICT (with 8 x 50 '<f4' data) are refused.
bad_dict() {
    mk bad_dict.npy --descr '<f4' --shape 8,50 --dict "$2"
    expect_failure "header: $1" --logits bad_dict.npy --targets targets.npy
}
bad_dict "unknown key" "{'descr': '<f4', 'fortran_order': False, 'shape': (8, 50), 'extra': 1}"
bad_dict "missing key" "{'descr': '<f4', 'shape': (8, 50)}"
bad_dict "duplicate key" "{'descr': '<f4', 'fortran_order': False, 'shape': (8, 50), 'shape': (8, 50)}"
bad_dict "negative dimension" "{'descr': '<f4', 'fortran_order': False, 'shape': (-8, 50)}"
bad_dict "dimension beyond 64 bits" "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 50)}"
bad_dict "fortran_order 0" "{'descr': '<f4', 'fortran_order': 0, 'shape': (8, 50)}"
bad_dict "no closing brace" "{'descr': '<f4', 'fortran_order': False, 'shape': (8, 50)"
bad_dict "text after the dict" "{'descr': '<f4', 'fortran_order': False, 'shape': (8, 50)} x"
bad_dict "newline inside a string" $'{\'descr\': \'<f4\n\', \'fortran_order\': False, \'shape\': (8, 50)}'
bad_dict "escape in a string" "{'descr': '<f\\x34', 'fortran_order': False, 'shape': (8, 50)}"
bad_dict "not a dict" "[('descr', '<f4')]"
mk paren_targets.npy --descr '<i8' --shape 8 --classes 50 \
    --dict "{'descr': '<i8', 'fortran_order': False, 'shape': (8)}"
expect_failure "header: shape (8) is not a tuple" --logits logits.npy --targets paren_targets.npy

# ---- bad flags, bad numbers, library errors -----------------------------------------------

valid=(--logits logits.npy --targets targets.npy)
expect_failure "unknown flag" "${valid[@]}" --nope
expect_failure "positional argument" "${valid[@]}" stray
expect_failure "missing --targets" --logits logits.npy
expect_failure "--smoothing 0.1x" "${valid[@]}" --smoothing 0.1x
expect_failure "--smoothing ''" "${valid[@]}" --smoothing ''
expect_failure "--smoothing ' 0.1'" "${valid[@]}" --smoothing ' 0.1'
expect_failure "--smoothing 1e999" "${valid[@]}" --smoothing 1e999
expect_failure "--smoothing nan (library)" "${valid[@]}" --smoothing nan
expect_failure "--smoothing 2 (library)" "${valid[@]}" --smoothing 2
expect_failure "--ignore-index 12abc" "${valid[@]}" --ignore-index 12abc
expect_failure "--ignore-index out of range" "${valid[@]}" --ignore-index 99999999999999999999
expect_failure "--convention bogus" "${valid[@]}" --convention bogus
expect_failure "--reduction bogus" "${valid[@]}" --reduction bogus
expect_failure "--isa bogus" "${valid[@]}" --isa bogus
if [[ -n $unavailable ]]; then
    expect_failure "--isa $unavailable (not available here)" "${valid[@]}" --isa "$unavailable"
fi
"$LSCE" run "${valid[@]}" --smoothing >stdout 2>stderr
check_failure "flag without its value" $?
mk wide_targets.npy --descr '<i8' --shape 8 --classes 1000
expect_failure "target outside [0, V) (library)" --logits logits.npy --targets wide_targets.npy
mk no_vocab.npy --descr '<f4' --shape 8,0
expect_failure "vocab 0 (library)" --logits no_vocab.npy --targets targets.npy

rm -rf out && mkdir out && printf 'previous' >out/grad.npy
"$LSCE" run "${valid[@]}" --grad-out out/grad.npy --loss-out out/grad.npy >stdout 2>stderr
check_failure "--grad-out and --loss-out the same file" $?
# The same file spelled two ways: refused (the loss used to replace the gradient, exit 0).
rm -rf out && mkdir out && printf 'previous' >out/grad.npy
"$LSCE" run "${valid[@]}" --grad-out out/new.npy --loss-out ./out/../out/new.npy >stdout 2>stderr
check_failure "--grad-out and --loss-out: one new file spelled two ways" $?
report "one new file spelled two ways: not written" $([[ ! -e out/new.npy ]] || echo "out/new.npy written")
rm -rf out && mkdir out && printf 'previous' >out/grad.npy
"$LSCE" run "${valid[@]}" --grad-out out/grad.npy --loss-out no_such_dir/loss.npy >stdout 2>stderr
check_failure "an unwritable second output leaves the first untouched" $?
rm -rf out

mkdir out && printf 'previous' >out/grad.npy
"$LSCE" run "${valid[@]}" --grad-out out >stdout 2>stderr
check_failure "--grad-out naming a directory" $?
rm -rf out

# Outputs through a symlink replace the file it points to; a FIFO is written as it is.
mkdir real && printf 'previous' >real/grad.npy && ln -s real/grad.npy link.npy
"$LSCE" run "${valid[@]}" --grad-out link.npy >/dev/null 2>stderr
problems=()
[[ -L link.npy ]] || problems+=("link.npy is no longer a symlink")
[[ $(stat -c %s real/grad.npy) -eq $((128 + 8 * 50 * 4)) ]] || problems+=("real/grad.npy not replaced")
report "--grad-out through a symlink keeps the link" "${problems[@]}"

mkfifo fifo
timeout 10 cat fifo >received.npy &
reader=$!
"$LSCE" run "${valid[@]}" --grad-out fifo >/dev/null 2>stderr
status=$?
wait "$reader"
problems=()
[[ $status -eq 0 ]] || problems+=("exit status $status")
[[ -p fifo ]] || problems+=("the FIFO was replaced")
cmp -s received.npy out_of_place.npy || problems+=("the FIFO's reader got other bytes")
report "--grad-out to a FIFO writes through it" "${problems[@]}"

# ---- demo ---------------------------------------------------------------------------------

"$LSCE" demo --rows 40 --vocab 300 >stdout 2>stderr
status=$?
problems=()
[[ $status -eq 0 ]] || problems+=("exit status $status")
grep -q '^scalar ' stdout || problems+=("no scalar row")
grep -q '^memcpy ' stdout || problems+=("no memcpy row")
grep -q 'running scalar' stderr || problems+=("no progress on stderr")
report "demo --rows 40 --vocab 300" "${problems[@]}"
"$LSCE" demo --rows 0 >stdout 2>stderr
check_failure "demo --rows 0" $?

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
