#!/usr/bin/env bash
# Tests of the lsce command-line tool: test_cli.sh LSCE MKNPY
#   LSCE   the built lsce executable
#   MKNPY  the built mknpy helper (writes valid and broken .npy files)
# Uses bash, coreutils and grep only. Prints one line per check; exits 1 if any failed.
set -u
export LC_ALL=C # bash's printf reads the JSON numbers with the locale's decimal point
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

# A JSON number as lsce prints it.
number='(-?[0-9][-+0-9.e]*|null)'

# The JSON line of a successful run; $1 is the expected n_tokens, $2 (optional) a pattern of the
# fields after "isa".
json_pattern() {
    echo "^\{\"loss\": $number, \"nll\": $number, \"n_tokens\": $1, \"n_correct\": [0-9]+, \"accuracy\": $number, \"isa\": \"[a-z0-9]+\"${2:-}\}$"
}

# expect_success NAME N_TOKENS ARGS... : `lsce run ARGS` exits 0 with one JSON line on stdout
# (with the fields matching $json_tail after "isa", none when it is unset).
expect_success() {
    local name=$1 tokens=$2
    shift 2
    local problems=()
    "$LSCE" run "$@" >stdout 2>stderr
    local status=$?
    [[ $status -eq 0 ]] || problems+=("exit status $status")
    [[ $(wc -l <stdout) -eq 1 ]] || problems+=("stdout has $(wc -l <stdout) lines")
    grep -Eq "$(json_pattern "$tokens" "${json_tail:-}")" stdout ||
        problems+=("stdout: $(head -c 300 stdout)")
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
# A descr holding a ' is written in double quotes (as Python's repr does), so the header parses
# and the dtype is what is refused (fuzz_npy found the writer emitting '<f4'' unparseable).
mk quote_descr.npy --descr "<f4'" --shape 8,50
expect_failure "logits dtype '<f4''" --logits quote_descr.npy --targets targets.npy
if grep -q "dtype '<f4'' is not supported" stderr; then report "descr with a quote parses back"
else report "descr with a quote parses back" "stderr does not name the dtype"; fi
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

# ---- objective options (lsce.h, "Objective options") ----------------------------------------

# json_value KEY [FILE] : the number KEY has in the JSON line of FILE (default stdout).
json_value() {
    grep -o "\"$1\": [^],}]*" "${2:-stdout}" | head -1 | cut -d' ' -f2
}

# pico X : the decimal number X in units of 1e-12, as a bash integer (|X| < 9e6); fails on null
# and on anything else that is not a number.
pico() {
    local fixed sign=
    [[ $1 =~ ^-?[0-9.]+([eE][-+]?[0-9]+)?$ ]] || return 1
    fixed=$(printf '%.12f' "$1" 2>/dev/null) || return 1
    [[ $fixed == -* ]] && sign=- && fixed=${fixed#-}
    echo $((${sign}10#${fixed/./}))
}

# close A B TOL : |A - B| <= TOL, bash integers (pico units).
close() {
    local d=$(($1 - $2))
    ((d <= $3 && -d <= $3))
}

# near A B TOL : |A - B| <= TOL for decimal numbers; false when one is not a number (null).
near() {
    local a b tol
    a=$(pico "$1") && b=$(pico "$2") && tol=$(pico "$3") && close "$a" "$b" "$tol"
}

# times_as NAME FILE KEY K TOL : KEY of stdout is K (an integer) times KEY of FILE, within TOL.
times_as() {
    local mine theirs a b
    mine=$(json_value "$3") theirs=$(json_value "$3" "$2")
    report "$1" $({ a=$(pico "$mine") && b=$(pico "$theirs") && close "$a" $(($4 * b)) "$(pico "$5")"; } ||
        echo "$3 $mine, want $4 x $theirs")
}

# same_as NAME FILE KEY TOL : KEY of stdout is KEY of FILE within TOL.
same_as() {
    times_as "$1" "$2" "$3" 1 "$4"
}

tol=1e-5 # lsce.h bounds a row loss error by 2.6e-6 A + 1.3e-6 loss: about 1e-5 for these
mk ones_v.npy --descr '<f4' --shape 50 --fill 1
mk twos_v.npy --descr '<f4' --shape 50 --fill 2
mk prior_uniform.npy --descr '<f4' --shape 50 --fill 0.02
mk ones_n.npy --descr '<f4' --shape 8 --fill 1
mk twos_n.npy --descr '<f4' --shape 8 --fill 2
mk logits_x2.npy --descr '<f4' --shape 8,50 --scale 2 # logits.npy's values times 2, exactly
"$LSCE" run "${valid[@]}" >plain.json 2>/dev/null
"$LSCE" run "${valid[@]}" --reduction sum >plain_sum.json 2>/dev/null

"$LSCE" --help >stdout 2>stderr
missing=()
for flag in --weights --prior --row-weights --z-loss --softcap --logit-scale \
    --confidence-penalty --calibration-bins '"z_loss"' '"ece"' '"bins"'; do
    grep -qF -- "$flag" stdout || missing+=("$flag")
done
report "--help describes the objective options and their fields" "${missing[@]}"
report "no z_loss, ece or bins field unless asked" \
    $(! grep -Eq '"(z_loss|ece|bins)"' plain.json baseline.json || echo "$(cat plain.json)")

# z-loss: z_sum = sum of z lse^2 over the kept rows, added to the summed loss (mean: over 6).
json_tail=", \"z_loss\": $number" expect_success "--z-loss 0.1: a z_loss field (only)" 6 \
    "${valid[@]}" --z-loss 0.1
z=$(json_value z_loss) loss_z=$(json_value loss) loss_0=$(json_value loss plain.json)
problems=()
if pz=$(pico "$z") && pl=$(pico "$loss_z") && p0=$(pico "$loss_0"); then
    ((pz > 0)) || problems+=("z_loss $z is not > 0")
    close $((pl - p0)) $((pz / 6)) "$(pico $tol)" ||
        problems+=("loss $loss_z - $loss_0 is not z_loss / n_tokens = $z / 6")
else
    problems+=("not numbers: z_loss $z, loss $loss_z, $loss_0")
fi
report "--z-loss 0.1, mean: loss - plain loss = z_loss / n_tokens" "${problems[@]}"
cp stdout z_mean.json
"$LSCE" run "${valid[@]}" --z-loss 0.1 --reduction sum >stdout 2>stderr
z_sum=$(json_value z_loss) loss_z=$(json_value loss) loss_0=$(json_value loss plain_sum.json)
problems=()
if pz=$(pico "$z_sum") && pl=$(pico "$loss_z") && p0=$(pico "$loss_0"); then
    close $((pl - p0)) "$pz" "$(pico $tol)" || problems+=("loss $loss_z - $loss_0 != z_loss $z_sum")
else
    problems+=("not numbers: $(cat stdout stderr)")
fi
report "--z-loss 0.1, sum: loss - plain loss = z_loss" "${problems[@]}"
same_as "--z-loss 0.1: the same z_loss (a sum) for sum and mean" z_mean.json z_loss $tol
"$LSCE" run "${valid[@]}" --z-loss 0.1 --row-weights twos_n.npy >stdout 2>stderr
times_as "--z-loss with row weights 2: twice the z_loss" z_mean.json z_loss 2 $tol
json_tail=', "z_loss": 0' expect_success "--z-loss 0: z_loss 0" 6 "${valid[@]}" --z-loss 0
same_as "--z-loss 0: the plain loss" plain.json loss 0

# Calibration: B bins [count, mean confidence, accuracy] of the kept rows by max probability.
# 64 rows of 4 classes (48 kept): about a quarter of them correct, confidences in [1/4, 1].
mk logits_64x4.npy --descr '<f4' --shape 64,4 --seed 7
mk targets_64.npy --descr '<i8' --shape 64 --classes 4 --ignore-every 4 --seed 8
bins_tail=", \"ece\": $number, \"bins\": \\[(\\[$number, $number, $number\\](, )?)*\\]"
json_tail=$bins_tail expect_success "--calibration-bins 10: ece and bins fields (only)" 48 \
    --logits logits_64x4.npy --targets targets_64.npy --calibration-bins 10 --logit-scale 0.5
ece=$(json_value ece) n_correct=$(json_value n_correct)
mapfile -t bins < <(grep -o '"bins": .*' stdout | grep -o '\[[^][]*\]')
problems=()
[[ ${#bins[@]} -eq 10 ]] || problems+=("${#bins[@]} bins")
{ pe=$(pico "$ece") && ((pe >= 0 && pe <= $(pico 1))); } || problems+=("ece $ece outside [0, 1]")
count_sum=0 correct_sum=0 gap_sum=0
for b in "${!bins[@]}"; do
    IFS=', ' read -r count conf acc <<<"$(tr -d '[]' <<<"${bins[b]}")"
    if [[ $count == 0 ]]; then
        [[ ${bins[b]} == '[0, 0, 0]' ]] || problems+=("empty bin $b: ${bins[b]}")
        continue
    fi
    [[ $count =~ ^[0-9]+$ ]] || { problems+=("bin $b count $count"); continue; }
    count_sum=$((count_sum + count))
    if pc=$(pico "$conf") && pa=$(pico "$acc"); then
        ((pc >= b * 100000000000 - 1000 && pc <= (b + 1) * 100000000000 + 1000)) ||
            problems+=("bin $b mean confidence $conf outside [$b/10, $((b + 1))/10]")
        ((pa >= 0 && pa <= 1000000000000)) || problems+=("bin $b accuracy $acc")
        correct_sum=$((correct_sum + count * pa))
        gap_sum=$((gap_sum + count * (pa > pc ? pa - pc : pc - pa)))
    else
        problems+=("bin $b: ${bins[b]}")
    fi
done
[[ $count_sum -eq 48 ]] || problems+=("counts sum to $count_sum")
((n_correct > 0)) || problems+=("n_correct $n_correct: no correct row to check the accuracy")
close "$correct_sum" $((n_correct * 1000000000000)) 1000 ||
    problems+=("sum of count x accuracy $correct_sum e-12, n_correct $n_correct")
[[ -z $pe ]] || close "$pe" $((gap_sum / 48)) 1000 ||
    problems+=("ece $ece, sum of count x |accuracy - mean confidence| / 48 = ${gap_sum}e-12 / 48")
report "--calibration-bins 10: ece in [0, 1] from the bins, counts sum to n_tokens, bins consistent" \
    "${problems[@]}"
json_tail=$bins_tail expect_success "--calibration-bins 1" 6 "${valid[@]}" --calibration-bins 1
IFS=', ' read -r count conf acc <<<"$(grep -o '"bins": .*' stdout | tr -d '[]}' | cut -d' ' -f2-)"
problems=()
[[ $count == 6 ]] || problems+=("count $count")
near "$acc" "$(json_value accuracy)" 1e-12 || problems+=("accuracy $acc, want $(json_value accuracy)")
{ pc=$(pico "$conf") && pa=$(pico "$acc") && close "$(pico "$(json_value ece)")" \
    $((pc > pa ? pc - pa : pa - pc)) 1000; } || problems+=("ece $(json_value ece) != |$acc - $conf|")
report "--calibration-bins 1: one bin of every row, ece = |accuracy - mean confidence|" \
    "${problems[@]}"
json_tail=', "ece": 0, "bins": \[\]' expect_success "--calibration-bins 0: ece 0, no bins" 6 \
    "${valid[@]}" --calibration-bins 0

# Class weights, prior and row weights that change nothing; then ones that scale.
expect_success "--weights of all 1" 6 "${valid[@]}" --smoothing 0.1 --weights ones_v.npy
same_as "--weights of all 1: the unweighted loss" baseline.json loss $tol
expect_success "--weights of all 2, mean" 6 "${valid[@]}" --smoothing 0.1 --weights twos_v.npy
same_as "--weights of all 2, mean: the unweighted loss (the mean divides by the weights)" \
    baseline.json loss $tol
"$LSCE" run "${valid[@]}" --weights twos_v.npy --reduction sum >stdout 2>stderr
times_as "--weights of all 2, sum: twice the unweighted loss" plain_sum.json loss 2 $tol
expect_success "--prior of 1/V" 6 "${valid[@]}" --smoothing 0.1 --prior prior_uniform.npy
same_as "--prior of 1/V: the uniform convention's loss" baseline.json loss $tol
expect_success "--row-weights of all 1" 6 "${valid[@]}" --row-weights ones_n.npy
same_as "--row-weights of all 1: the plain loss" plain.json loss $tol
"$LSCE" run "${valid[@]}" --row-weights twos_n.npy >stdout 2>stderr
same_as "--row-weights of all 2, mean: the plain loss" plain.json loss $tol
"$LSCE" run "${valid[@]}" --row-weights twos_n.npy --reduction sum >stdout 2>stderr
times_as "--row-weights of all 2, sum: twice the plain loss" plain_sum.json loss 2 $tol

# Logit transforms.
expect_success "--logit-scale 2" 6 "${valid[@]}" --smoothing 0.1 --logit-scale 2
cp stdout scaled.json
"$LSCE" run --logits logits_x2.npy --targets targets.npy --smoothing 0.1 >stdout 2>stderr
same_as "--logit-scale 2: the loss of the logits times 2" scaled.json loss $tol
same_as "--logit-scale 2: the nll of the logits times 2" scaled.json nll $tol
expect_success "--logit-scale 1" 6 "${valid[@]}" --logit-scale 1
same_as "--logit-scale 1: the plain loss" plain.json loss $tol
expect_success "--softcap 1e6" 6 "${valid[@]}" --softcap 1e6
same_as "--softcap 1e6: the plain loss (|logits| <= 4)" plain.json loss $tol
expect_success "--softcap 1" 6 "${valid[@]}" --softcap 1
report "--softcap 1: nll <= log V + 2 (capped logits in [-1, 1])" \
    $({ pn=$(pico "$(json_value nll)") && ((pn > 0 && pn <= $(pico 5.912023006))); } ||
        echo "nll $(json_value nll)")
expect_success "--softcap 0 (off)" 6 "${valid[@]}" --softcap 0
same_as "--softcap 0: the plain loss" plain.json loss 0

# Confidence penalty: loss = plain loss + beta * mean sum p log p, 0 > sum p log p >= -log V.
expect_success "--confidence-penalty 0.5" 6 "${valid[@]}" --confidence-penalty 0.5
problems=()
if pl=$(pico "$(json_value loss)") && p0=$(pico "$(json_value loss plain.json)"); then
    ((pl < p0 && p0 - pl <= $(pico 1.956012))) ||
        problems+=("plain loss - loss = $(((p0 - pl) / 1000000))e-6, want in (0, 0.5 log 50]")
else
    problems+=("loss $(json_value loss)")
fi
same_as "--confidence-penalty 0.5: the plain nll" plain.json nll $tol
report "--confidence-penalty 0.5: the loss falls by at most 0.5 log V" "${problems[@]}"

# Everything at once, with the output files.
json_tail=", \"z_loss\": $number$bins_tail" expect_success "every objective option at once" 6 \
    "${valid[@]}" --smoothing 0.1 --weights twos_v.npy --prior prior_uniform.npy \
    --row-weights ones_n.npy --z-loss 1e-3 --logit-scale 0.5 --softcap 30 \
    --confidence-penalty 0.1 --calibration-bins 15 --reduction none --grad-out grad_all.npy \
    --loss-out loss_all.npy
problems=()
[[ $(stat -c %s grad_all.npy 2>/dev/null) -eq $((128 + 8 * 50 * 4)) ]] || problems+=("grad_all.npy")
[[ $(stat -c %s loss_all.npy 2>/dev/null) -eq $((128 + 8 * 4)) ]] || problems+=("loss_all.npy")
report "every objective option at once: whole output files" "${problems[@]}"

# Files of the wrong shape or dtype, bad numbers: the CLI's errors.
mk weights_49.npy --descr '<f4' --shape 49 --fill 1
expect_failure "--weights of 49 entries for 50 classes" "${valid[@]}" --weights weights_49.npy
mk prior_51.npy --descr '<f4' --shape 51 --fill 0.02
expect_failure "--prior of 51 entries for 50 classes" "${valid[@]}" --prior prior_51.npy
mk row_weights_7.npy --descr '<f4' --shape 7 --fill 1
expect_failure "--row-weights of 7 entries for 8 rows" "${valid[@]}" --row-weights row_weights_7.npy
expect_failure "--row-weights of 50 entries (V, not N)" "${valid[@]}" --row-weights ones_v.npy
mk weights_2d.npy --descr '<f4' --shape 50,1 --fill 1
expect_failure "2-D --weights (50, 1)" "${valid[@]}" --weights weights_2d.npy
mk weights_f8.npy --descr '<f8' --shape 50 --fill 1
expect_failure "--weights dtype '<f8'" "${valid[@]}" --weights weights_f8.npy
mk row_weights_i4.npy --descr '<i4' --shape 8
expect_failure "--row-weights dtype '<i4'" "${valid[@]}" --row-weights row_weights_i4.npy
mk weights_cut.npy --descr '<f4' --shape 50 --fill 1 --truncate 4
expect_failure "truncated --weights" "${valid[@]}" --weights weights_cut.npy
expect_failure "missing --prior file" "${valid[@]}" --prior no_such_prior.npy
expect_failure "--z-loss 0.1x" "${valid[@]}" --z-loss 0.1x
expect_failure "--softcap ''" "${valid[@]}" --softcap ''
expect_failure "--logit-scale 1e999" "${valid[@]}" --logit-scale 1e999
expect_failure "--confidence-penalty ' 1'" "${valid[@]}" --confidence-penalty ' 1'
expect_failure "--calibration-bins 2.5" "${valid[@]}" --calibration-bins 2.5
expect_failure "--calibration-bins 99999999999" "${valid[@]}" --calibration-bins 99999999999
"$LSCE" run "${valid[@]}" --weights >stdout 2>stderr
check_failure "--weights without its value" $?

# Values outside their domain: the library's LSCE_ERR_OPTION, named in the message.
expect_failure "--softcap -1 (library)" "${valid[@]}" --softcap -1
report "a refused option is named in the message" \
    $(grep -q -- '--softcap -1' stderr || echo "stderr: $(cat stderr)")
expect_failure "--z-loss -0.1 (library)" "${valid[@]}" --z-loss -0.1
expect_failure "--z-loss inf (library)" "${valid[@]}" --z-loss inf
expect_failure "--logit-scale 0 (library)" "${valid[@]}" --logit-scale 0
expect_failure "--confidence-penalty nan (library)" "${valid[@]}" --confidence-penalty nan
expect_failure "--calibration-bins 1001 (library)" "${valid[@]}" --calibration-bins 1001
expect_failure "--calibration-bins -1 (library)" "${valid[@]}" --calibration-bins -1
expect_failure "--calibration-bins 1000000 (library)" "${valid[@]}" --calibration-bins 1000000
mk weights_negative.npy --descr '<f4' --shape 50 --fill -1
expect_failure "--weights with negative entries (library)" "${valid[@]}" --weights weights_negative.npy
mk weights_nan.npy --descr '<f4' --shape 50 --fill nan
expect_failure "--weights of NaN (library)" "${valid[@]}" --weights weights_nan.npy
mk prior_half.npy --descr '<f4' --shape 50 --fill 0.01
expect_failure "--prior summing to 0.5 (library)" "${valid[@]}" --smoothing 0.1 --prior prior_half.npy
expect_failure "--prior with --convention others (library)" "${valid[@]}" --smoothing 0.1 \
    --convention others --prior prior_uniform.npy
mk row_weights_inf.npy --descr '<f4' --shape 8 --fill inf
expect_failure "--row-weights of inf (library)" "${valid[@]}" --row-weights row_weights_inf.npy

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
