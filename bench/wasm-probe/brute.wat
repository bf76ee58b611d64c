;; Fused brute-force kNN kernels for the squared-euclidean key, for bench/wasm-probe/probe.ts.
;; Scratch measurement, not product code. Every kernel: for queries q0..q1-1, scan all n training
;; rows, keep a sorted top-k per query with the tie rule of src/engines/cpu/brute.ts (a candidate
;; enters only if key < current k-th key, or while fewer than k are kept, and is inserted after
;; every kept key <= it), then write query q's j-th neighbour at oi[q*k + j] (i32) and its key
;; (squared distance, as f64) at ok[q*k + j]. All pointers are byte offsets into `memory`.
;; scr: scratch of k*8 (keys) + k*4 (indices) bytes. k >= 1, n >= k.
;;
;;   sq_scalar  f64, row-major, scalar, sequential sum over c (bit-identical to brute.ts)
;;   sq_rm      f64, row-major, f64x2 over columns (c, c+1) + scalar tail for odd d: the lanes
;;              sum even and odd columns separately, so the key may differ in the last bits
;;   sq_il2     f64, rows interleaved in pairs (row 2b+l, column c at t + (b*d + c)*16 + l*8),
;;              f64x2 over two rows: each lane sums c = 0..d-1 in order (bit-identical)
;;   sq_il2_d7  sq_il2 unrolled for d = 7, query splats hoisted
;;   sq_il4_f32 f32, rows interleaved by 4 (row 4b+l, column c at t + (b*d + c)*16 + l*4),
;;              f32x4 over four rows, queries f32 row-major, keys f32 (written out as f64)
;; Padding lanes of the last interleaved block must hold NaN (never < worst; and only lanes with
;; a row index < n are ever inserted).
(module
  (memory (export "memory") 1)

  ;; ---- f64 top-k ----
  (func $ins64 (param $keys i32) (param $idx i32) (param $count i32) (param $k i32) (param $key f64) (param $i i32) (result i32)
    (local $pos i32) (local $prev f64)
    (local.set $pos (select (local.get $count) (i32.sub (local.get $k) (i32.const 1)) (i32.lt_u (local.get $count) (local.get $k))))
    (block $done
      (loop $shift
        (br_if $done (i32.eqz (local.get $pos)))
        (local.set $prev (f64.load (i32.add (local.get $keys) (i32.shl (i32.sub (local.get $pos) (i32.const 1)) (i32.const 3)))))
        (br_if $done (i32.eqz (f64.gt (local.get $prev) (local.get $key))))
        (f64.store (i32.add (local.get $keys) (i32.shl (local.get $pos) (i32.const 3))) (local.get $prev))
        (i32.store (i32.add (local.get $idx) (i32.shl (local.get $pos) (i32.const 2)))
          (i32.load (i32.add (local.get $idx) (i32.shl (i32.sub (local.get $pos) (i32.const 1)) (i32.const 2)))))
        (local.set $pos (i32.sub (local.get $pos) (i32.const 1)))
        (br $shift)))
    (f64.store (i32.add (local.get $keys) (i32.shl (local.get $pos) (i32.const 3))) (local.get $key))
    (i32.store (i32.add (local.get $idx) (i32.shl (local.get $pos) (i32.const 2))) (local.get $i))
    (select (i32.add (local.get $count) (i32.const 1)) (local.get $count) (i32.lt_u (local.get $count) (local.get $k))))

  (func $worst64 (param $keys i32) (param $count i32) (param $k i32) (result f64)
    (if (result f64) (i32.lt_u (local.get $count) (local.get $k))
      (then (f64.const inf))
      (else (f64.load (i32.add (local.get $keys) (i32.shl (i32.sub (local.get $k) (i32.const 1)) (i32.const 3)))))))

  (func $out64 (param $keys i32) (param $idx i32) (param $k i32) (param $q i32) (param $oi i32) (param $ok i32)
    (local $j i32) (local $o i32)
    (local.set $o (i32.mul (local.get $q) (local.get $k)))
    (block $end
      (loop $l
        (br_if $end (i32.ge_u (local.get $j) (local.get $k)))
        (i32.store (i32.add (local.get $oi) (i32.shl (i32.add (local.get $o) (local.get $j)) (i32.const 2)))
          (i32.load (i32.add (local.get $idx) (i32.shl (local.get $j) (i32.const 2)))))
        (f64.store (i32.add (local.get $ok) (i32.shl (i32.add (local.get $o) (local.get $j)) (i32.const 3)))
          (f64.load (i32.add (local.get $keys) (i32.shl (local.get $j) (i32.const 3)))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $l))))

  ;; ---- f64, row-major, scalar ----
  (func (export "sq_scalar") (param $t i32) (param $n i32) (param $qp i32) (param $d i32) (param $k i32)
        (param $q0 i32) (param $q1 i32) (param $oi i32) (param $ok i32) (param $scr i32)
    (local $keys i32) (local $idx i32) (local $q i32) (local $qo i32) (local $qe i32) (local $i i32) (local $to i32)
    (local $a i32) (local $b i32) (local $count i32) (local $rb i32)
    (local $worst f64) (local $key f64) (local $s f64)
    (local.set $keys (local.get $scr))
    (local.set $idx (i32.add (local.get $scr) (i32.shl (local.get $k) (i32.const 3))))
    (local.set $rb (i32.shl (local.get $d) (i32.const 3)))
    (local.set $q (local.get $q0))
    (block $qend (loop $qloop
      (br_if $qend (i32.ge_u (local.get $q) (local.get $q1)))
      (local.set $qo (i32.add (local.get $qp) (i32.mul (local.get $q) (local.get $rb))))
      (local.set $qe (i32.add (local.get $qo) (local.get $rb)))
      (local.set $count (i32.const 0))
      (local.set $worst (f64.const inf))
      (local.set $to (local.get $t))
      (local.set $i (i32.const 0))
      (block $iend (loop $iloop
        (br_if $iend (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $key (f64.const 0))
        (local.set $a (local.get $qo))
        (local.set $b (local.get $to))
        (block $cend (loop $cloop
          (br_if $cend (i32.ge_u (local.get $a) (local.get $qe)))
          (local.set $s (f64.sub (f64.load (local.get $a)) (f64.load (local.get $b))))
          (local.set $key (f64.add (local.get $key) (f64.mul (local.get $s) (local.get $s))))
          (local.set $a (i32.add (local.get $a) (i32.const 8)))
          (local.set $b (i32.add (local.get $b) (i32.const 8)))
          (br $cloop)))
        (if (i32.or (f64.lt (local.get $key) (local.get $worst)) (i32.lt_u (local.get $count) (local.get $k)))
          (then
            (local.set $count (call $ins64 (local.get $keys) (local.get $idx) (local.get $count) (local.get $k) (local.get $key) (local.get $i)))
            (local.set $worst (call $worst64 (local.get $keys) (local.get $count) (local.get $k)))))
        (local.set $to (i32.add (local.get $to) (local.get $rb)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $iloop)))
      (call $out64 (local.get $keys) (local.get $idx) (local.get $k) (local.get $q) (local.get $oi) (local.get $ok))
      (local.set $q (i32.add (local.get $q) (i32.const 1)))
      (br $qloop))))

  ;; ---- f64, row-major, f64x2 over column pairs + scalar tail ----
  (func (export "sq_rm") (param $t i32) (param $n i32) (param $qp i32) (param $d i32) (param $k i32)
        (param $q0 i32) (param $q1 i32) (param $oi i32) (param $ok i32) (param $scr i32)
    (local $keys i32) (local $idx i32) (local $q i32) (local $qo i32) (local $qe2 i32) (local $i i32) (local $to i32)
    (local $a i32) (local $b i32) (local $count i32) (local $rb i32) (local $odd i32)
    (local $worst f64) (local $key f64) (local $s f64) (local $acc v128) (local $v v128)
    (local.set $keys (local.get $scr))
    (local.set $idx (i32.add (local.get $scr) (i32.shl (local.get $k) (i32.const 3))))
    (local.set $rb (i32.shl (local.get $d) (i32.const 3)))
    (local.set $odd (i32.and (local.get $d) (i32.const 1)))
    (local.set $q (local.get $q0))
    (block $qend (loop $qloop
      (br_if $qend (i32.ge_u (local.get $q) (local.get $q1)))
      (local.set $qo (i32.add (local.get $qp) (i32.mul (local.get $q) (local.get $rb))))
      ;; end of the paired columns (byte offset in the query row)
      (local.set $qe2 (i32.add (local.get $qo) (i32.shl (i32.and (local.get $d) (i32.const -2)) (i32.const 3))))
      (local.set $count (i32.const 0))
      (local.set $worst (f64.const inf))
      (local.set $to (local.get $t))
      (local.set $i (i32.const 0))
      (block $iend (loop $iloop
        (br_if $iend (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (v128.const i64x2 0 0))
        (local.set $a (local.get $qo))
        (local.set $b (local.get $to))
        (block $cend (loop $cloop
          (br_if $cend (i32.ge_u (local.get $a) (local.get $qe2)))
          (local.set $v (f64x2.sub (v128.load align=8 (local.get $a)) (v128.load align=8 (local.get $b))))
          (local.set $acc (f64x2.add (local.get $acc) (f64x2.mul (local.get $v) (local.get $v))))
          (local.set $a (i32.add (local.get $a) (i32.const 16)))
          (local.set $b (i32.add (local.get $b) (i32.const 16)))
          (br $cloop)))
        (local.set $key (f64.add (f64x2.extract_lane 0 (local.get $acc)) (f64x2.extract_lane 1 (local.get $acc))))
        (if (local.get $odd)
          (then
            (local.set $s (f64.sub (f64.load (local.get $a)) (f64.load (local.get $b))))
            (local.set $key (f64.add (local.get $key) (f64.mul (local.get $s) (local.get $s))))))
        (if (i32.or (f64.lt (local.get $key) (local.get $worst)) (i32.lt_u (local.get $count) (local.get $k)))
          (then
            (local.set $count (call $ins64 (local.get $keys) (local.get $idx) (local.get $count) (local.get $k) (local.get $key) (local.get $i)))
            (local.set $worst (call $worst64 (local.get $keys) (local.get $count) (local.get $k)))))
        (local.set $to (i32.add (local.get $to) (local.get $rb)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $iloop)))
      (call $out64 (local.get $keys) (local.get $idx) (local.get $k) (local.get $q) (local.get $oi) (local.get $ok))
      (local.set $q (i32.add (local.get $q) (i32.const 1)))
      (br $qloop))))

  ;; ---- f64, rows interleaved in pairs, f64x2 over two rows ----
  (func (export "sq_il2") (param $t i32) (param $n i32) (param $qp i32) (param $d i32) (param $k i32)
        (param $q0 i32) (param $q1 i32) (param $oi i32) (param $ok i32) (param $scr i32)
    (local $keys i32) (local $idx i32) (local $q i32) (local $qo i32) (local $qe i32) (local $i i32) (local $to i32)
    (local $a i32) (local $b i32) (local $count i32) (local $bb i32)
    (local $worst f64) (local $key f64) (local $acc v128) (local $v v128) (local $wv v128)
    (local.set $keys (local.get $scr))
    (local.set $idx (i32.add (local.get $scr) (i32.shl (local.get $k) (i32.const 3))))
    (local.set $bb (i32.shl (local.get $d) (i32.const 4)))
    (local.set $q (local.get $q0))
    (block $qend (loop $qloop
      (br_if $qend (i32.ge_u (local.get $q) (local.get $q1)))
      (local.set $qo (i32.add (local.get $qp) (i32.shl (i32.mul (local.get $q) (local.get $d)) (i32.const 3))))
      (local.set $qe (i32.add (local.get $qo) (i32.shl (local.get $d) (i32.const 3))))
      (local.set $count (i32.const 0))
      (local.set $worst (f64.const inf))
      (local.set $wv (f64x2.splat (f64.const inf)))
      (local.set $to (local.get $t))
      (local.set $i (i32.const 0))
      (block $iend (loop $iloop
        (br_if $iend (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (v128.const i64x2 0 0))
        (local.set $a (local.get $qo))
        (local.set $b (local.get $to))
        (block $cend (loop $cloop
          (br_if $cend (i32.ge_u (local.get $a) (local.get $qe)))
          (local.set $v (f64x2.sub (f64x2.splat (f64.load (local.get $a))) (v128.load (local.get $b))))
          (local.set $acc (f64x2.add (local.get $acc) (f64x2.mul (local.get $v) (local.get $v))))
          (local.set $a (i32.add (local.get $a) (i32.const 8)))
          (local.set $b (i32.add (local.get $b) (i32.const 16)))
          (br $cloop)))
        (if (i32.or (v128.any_true (f64x2.lt (local.get $acc) (local.get $wv))) (i32.lt_u (local.get $count) (local.get $k)))
          (then
            ;; lane 0: row i
            (local.set $key (f64x2.extract_lane 0 (local.get $acc)))
            (if (i32.or (f64.lt (local.get $key) (local.get $worst)) (i32.lt_u (local.get $count) (local.get $k)))
              (then
                (local.set $count (call $ins64 (local.get $keys) (local.get $idx) (local.get $count) (local.get $k) (local.get $key) (local.get $i)))
                (local.set $worst (call $worst64 (local.get $keys) (local.get $count) (local.get $k)))))
            ;; lane 1: row i + 1, if it exists
            (local.set $key (f64x2.extract_lane 1 (local.get $acc)))
            (if (i32.and (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $n))
                         (i32.or (f64.lt (local.get $key) (local.get $worst)) (i32.lt_u (local.get $count) (local.get $k))))
              (then
                (local.set $count (call $ins64 (local.get $keys) (local.get $idx) (local.get $count) (local.get $k) (local.get $key) (i32.add (local.get $i) (i32.const 1))))
                (local.set $worst (call $worst64 (local.get $keys) (local.get $count) (local.get $k)))))
            (local.set $wv (f64x2.splat (local.get $worst)))))
        (local.set $to (i32.add (local.get $to) (local.get $bb)))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $iloop)))
      (call $out64 (local.get $keys) (local.get $idx) (local.get $k) (local.get $q) (local.get $oi) (local.get $ok))
      (local.set $q (i32.add (local.get $q) (i32.const 1)))
      (br $qloop))))

  ;; ---- sq_il2 for d = 7: unrolled, query splats hoisted out of the row loop ----
  (func (export "sq_il2_d7") (param $t i32) (param $n i32) (param $qp i32) (param $d i32) (param $k i32)
        (param $q0 i32) (param $q1 i32) (param $oi i32) (param $ok i32) (param $scr i32)
    (local $keys i32) (local $idx i32) (local $q i32) (local $qo i32) (local $i i32) (local $b i32) (local $count i32)
    (local $worst f64) (local $key f64) (local $acc v128) (local $v v128) (local $wv v128)
    (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128) (local $c4 v128) (local $c5 v128) (local $c6 v128)
    (local.set $keys (local.get $scr))
    (local.set $idx (i32.add (local.get $scr) (i32.shl (local.get $k) (i32.const 3))))
    (local.set $q (local.get $q0))
    (block $qend (loop $qloop
      (br_if $qend (i32.ge_u (local.get $q) (local.get $q1)))
      (local.set $qo (i32.add (local.get $qp) (i32.mul (local.get $q) (i32.const 56))))
      (local.set $c0 (f64x2.splat (f64.load offset=0 (local.get $qo))))
      (local.set $c1 (f64x2.splat (f64.load offset=8 (local.get $qo))))
      (local.set $c2 (f64x2.splat (f64.load offset=16 (local.get $qo))))
      (local.set $c3 (f64x2.splat (f64.load offset=24 (local.get $qo))))
      (local.set $c4 (f64x2.splat (f64.load offset=32 (local.get $qo))))
      (local.set $c5 (f64x2.splat (f64.load offset=40 (local.get $qo))))
      (local.set $c6 (f64x2.splat (f64.load offset=48 (local.get $qo))))
      (local.set $count (i32.const 0))
      (local.set $worst (f64.const inf))
      (local.set $wv (f64x2.splat (f64.const inf)))
      (local.set $b (local.get $t))
      (local.set $i (i32.const 0))
      (block $iend (loop $iloop
        (br_if $iend (i32.ge_u (local.get $i) (local.get $n)))
        ;; (((0 + d0^2) + d1^2) + ...) per lane; 0 + x == x for x >= 0, so start from d0^2
        (local.set $v (f64x2.sub (local.get $c0) (v128.load offset=0 (local.get $b))))
        (local.set $acc (f64x2.mul (local.get $v) (local.get $v)))
        (local.set $v (f64x2.sub (local.get $c1) (v128.load offset=16 (local.get $b))))
        (local.set $acc (f64x2.add (local.get $acc) (f64x2.mul (local.get $v) (local.get $v))))
        (local.set $v (f64x2.sub (local.get $c2) (v128.load offset=32 (local.get $b))))
        (local.set $acc (f64x2.add (local.get $acc) (f64x2.mul (local.get $v) (local.get $v))))
        (local.set $v (f64x2.sub (local.get $c3) (v128.load offset=48 (local.get $b))))
        (local.set $acc (f64x2.add (local.get $acc) (f64x2.mul (local.get $v) (local.get $v))))
        (local.set $v (f64x2.sub (local.get $c4) (v128.load offset=64 (local.get $b))))
        (local.set $acc (f64x2.add (local.get $acc) (f64x2.mul (local.get $v) (local.get $v))))
        (local.set $v (f64x2.sub (local.get $c5) (v128.load offset=80 (local.get $b))))
        (local.set $acc (f64x2.add (local.get $acc) (f64x2.mul (local.get $v) (local.get $v))))
        (local.set $v (f64x2.sub (local.get $c6) (v128.load offset=96 (local.get $b))))
        (local.set $acc (f64x2.add (local.get $acc) (f64x2.mul (local.get $v) (local.get $v))))
        (if (i32.or (v128.any_true (f64x2.lt (local.get $acc) (local.get $wv))) (i32.lt_u (local.get $count) (local.get $k)))
          (then
            (local.set $key (f64x2.extract_lane 0 (local.get $acc)))
            (if (i32.or (f64.lt (local.get $key) (local.get $worst)) (i32.lt_u (local.get $count) (local.get $k)))
              (then
                (local.set $count (call $ins64 (local.get $keys) (local.get $idx) (local.get $count) (local.get $k) (local.get $key) (local.get $i)))
                (local.set $worst (call $worst64 (local.get $keys) (local.get $count) (local.get $k)))))
            (local.set $key (f64x2.extract_lane 1 (local.get $acc)))
            (if (i32.and (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $n))
                         (i32.or (f64.lt (local.get $key) (local.get $worst)) (i32.lt_u (local.get $count) (local.get $k))))
              (then
                (local.set $count (call $ins64 (local.get $keys) (local.get $idx) (local.get $count) (local.get $k) (local.get $key) (i32.add (local.get $i) (i32.const 1))))
                (local.set $worst (call $worst64 (local.get $keys) (local.get $count) (local.get $k)))))
            (local.set $wv (f64x2.splat (local.get $worst)))))
        (local.set $b (i32.add (local.get $b) (i32.const 112)))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $iloop)))
      (call $out64 (local.get $keys) (local.get $idx) (local.get $k) (local.get $q) (local.get $oi) (local.get $ok))
      (local.set $q (i32.add (local.get $q) (i32.const 1)))
      (br $qloop))))

  ;; ---- f32 top-k ----
  (func $ins32 (param $keys i32) (param $idx i32) (param $count i32) (param $k i32) (param $key f32) (param $i i32) (result i32)
    (local $pos i32) (local $prev f32)
    (local.set $pos (select (local.get $count) (i32.sub (local.get $k) (i32.const 1)) (i32.lt_u (local.get $count) (local.get $k))))
    (block $done
      (loop $shift
        (br_if $done (i32.eqz (local.get $pos)))
        (local.set $prev (f32.load (i32.add (local.get $keys) (i32.shl (i32.sub (local.get $pos) (i32.const 1)) (i32.const 2)))))
        (br_if $done (i32.eqz (f32.gt (local.get $prev) (local.get $key))))
        (f32.store (i32.add (local.get $keys) (i32.shl (local.get $pos) (i32.const 2))) (local.get $prev))
        (i32.store (i32.add (local.get $idx) (i32.shl (local.get $pos) (i32.const 2)))
          (i32.load (i32.add (local.get $idx) (i32.shl (i32.sub (local.get $pos) (i32.const 1)) (i32.const 2)))))
        (local.set $pos (i32.sub (local.get $pos) (i32.const 1)))
        (br $shift)))
    (f32.store (i32.add (local.get $keys) (i32.shl (local.get $pos) (i32.const 2))) (local.get $key))
    (i32.store (i32.add (local.get $idx) (i32.shl (local.get $pos) (i32.const 2))) (local.get $i))
    (select (i32.add (local.get $count) (i32.const 1)) (local.get $count) (i32.lt_u (local.get $count) (local.get $k))))

  (func $worst32 (param $keys i32) (param $count i32) (param $k i32) (result f32)
    (if (result f32) (i32.lt_u (local.get $count) (local.get $k))
      (then (f32.const inf))
      (else (f32.load (i32.add (local.get $keys) (i32.shl (i32.sub (local.get $k) (i32.const 1)) (i32.const 2)))))))

  ;; lane $l of $acc is row $i + $l: offer it to the top-k if the row exists
  (func $offer32 (param $keys i32) (param $idx i32) (param $count i32) (param $k i32) (param $key f32) (param $row i32) (param $n i32) (result i32)
    (if (result i32) (i32.and (i32.lt_u (local.get $row) (local.get $n))
                              (i32.or (f32.lt (local.get $key) (call $worst32 (local.get $keys) (local.get $count) (local.get $k)))
                                      (i32.lt_u (local.get $count) (local.get $k))))
      (then (call $ins32 (local.get $keys) (local.get $idx) (local.get $count) (local.get $k) (local.get $key) (local.get $row)))
      (else (local.get $count))))

  ;; ---- f32, rows interleaved by 4, f32x4 over four rows ----
  (func (export "sq_il4_f32") (param $t i32) (param $n i32) (param $qp i32) (param $d i32) (param $k i32)
        (param $q0 i32) (param $q1 i32) (param $oi i32) (param $ok i32) (param $scr i32)
    (local $keys i32) (local $idx i32) (local $q i32) (local $qo i32) (local $qe i32) (local $i i32) (local $to i32)
    (local $a i32) (local $b i32) (local $count i32) (local $bb i32) (local $j i32) (local $o i32)
    (local $acc v128) (local $v v128) (local $wv v128)
    (local.set $keys (local.get $scr))
    (local.set $idx (i32.add (local.get $scr) (i32.shl (local.get $k) (i32.const 2))))
    (local.set $bb (i32.shl (local.get $d) (i32.const 4)))
    (local.set $q (local.get $q0))
    (block $qend (loop $qloop
      (br_if $qend (i32.ge_u (local.get $q) (local.get $q1)))
      (local.set $qo (i32.add (local.get $qp) (i32.shl (i32.mul (local.get $q) (local.get $d)) (i32.const 2))))
      (local.set $qe (i32.add (local.get $qo) (i32.shl (local.get $d) (i32.const 2))))
      (local.set $count (i32.const 0))
      (local.set $wv (f32x4.splat (f32.const inf)))
      (local.set $to (local.get $t))
      (local.set $i (i32.const 0))
      (block $iend (loop $iloop
        (br_if $iend (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (v128.const i32x4 0 0 0 0))
        (local.set $a (local.get $qo))
        (local.set $b (local.get $to))
        (block $cend (loop $cloop
          (br_if $cend (i32.ge_u (local.get $a) (local.get $qe)))
          (local.set $v (f32x4.sub (f32x4.splat (f32.load (local.get $a))) (v128.load (local.get $b))))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $v) (local.get $v))))
          (local.set $a (i32.add (local.get $a) (i32.const 4)))
          (local.set $b (i32.add (local.get $b) (i32.const 16)))
          (br $cloop)))
        (if (i32.or (v128.any_true (f32x4.lt (local.get $acc) (local.get $wv))) (i32.lt_u (local.get $count) (local.get $k)))
          (then
            (local.set $count (call $offer32 (local.get $keys) (local.get $idx) (local.get $count) (local.get $k)
              (f32x4.extract_lane 0 (local.get $acc)) (local.get $i) (local.get $n)))
            (local.set $count (call $offer32 (local.get $keys) (local.get $idx) (local.get $count) (local.get $k)
              (f32x4.extract_lane 1 (local.get $acc)) (i32.add (local.get $i) (i32.const 1)) (local.get $n)))
            (local.set $count (call $offer32 (local.get $keys) (local.get $idx) (local.get $count) (local.get $k)
              (f32x4.extract_lane 2 (local.get $acc)) (i32.add (local.get $i) (i32.const 2)) (local.get $n)))
            (local.set $count (call $offer32 (local.get $keys) (local.get $idx) (local.get $count) (local.get $k)
              (f32x4.extract_lane 3 (local.get $acc)) (i32.add (local.get $i) (i32.const 3)) (local.get $n)))
            (local.set $wv (f32x4.splat (call $worst32 (local.get $keys) (local.get $count) (local.get $k))))))
        (local.set $to (i32.add (local.get $to) (local.get $bb)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $iloop)))
      ;; write out: indices, keys promoted to f64
      (local.set $o (i32.mul (local.get $q) (local.get $k)))
      (local.set $j (i32.const 0))
      (block $wend (loop $wloop
        (br_if $wend (i32.ge_u (local.get $j) (local.get $k)))
        (i32.store (i32.add (local.get $oi) (i32.shl (i32.add (local.get $o) (local.get $j)) (i32.const 2)))
          (i32.load (i32.add (local.get $idx) (i32.shl (local.get $j) (i32.const 2)))))
        (f64.store (i32.add (local.get $ok) (i32.shl (i32.add (local.get $o) (local.get $j)) (i32.const 3)))
          (f64.promote_f32 (f32.load (i32.add (local.get $keys) (i32.shl (local.get $j) (i32.const 2))))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $wloop)))
      (local.set $q (i32.add (local.get $q) (i32.const 1)))
      (br $qloop))))
)
