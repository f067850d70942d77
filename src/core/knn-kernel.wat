;; The WebAssembly SIMD kernel of exact kNN (src/core/knn-kernel.ts runs it; the search is src/core/knn.ts).
;; Assembled by scripts/assemble-wasm.mjs (run by `npm run build`, with wabt) into src/core/knn-kernel-wasm.ts,
;; which is committed; test/unit/knn-kernel-wasm.test.ts re-assembles this file and checks they agree
;; (docs/engine-kernels.md, "The kNN kernel as WebAssembly text").
;;
;; It imports its memory as e.m and exports:
;;   scan64(a, b, rowBytes, rows, cols, nq, ng, tq, tg, outS, outC, notDiag, rowLimit, colLimit, k1) → count
;;       rows % 4 == 0, cols % 2 == 0, rowBytes % 32 == 0; Float64 rows A_r at a + r·rowBytes, columns B_c at
;;       b + c·rowBytes, their norms at nq + 8r and ng + 8c, thresholds at tq + 8r and tg + 8c. For each pair (r, c)
;;       with r < rowLimit, c < colLimit, and notDiag or c > r: s = max((nq_r + ng_c) − (dot + dot), 0);
;;       f = (s ≤ tq_r) | (s ≤ tg_c) << 1; when f ≠ 0 the pair is appended: outS[count] = s,
;;       outC[count] = f << 30 | r << 15 | c. With k1, tq_r (a local copy) becomes min(tq_r, s) after each append.
;;   scan32(…same…, k1, epsUp) → count
;;       The same over Float32 copies of the rows (rowBytes of the Float32 rows), with Float32 products and sums
;;       (each f32x4 lane sums a quarter of the coordinates, then the lanes are added: (l0 + l2) + (l1 + l3)),
;;       given norms lowered by the error bound, nq·(1 − eps), and without the clamp: its s is a lower bound of the
;;       exact s (see src/core/knn.ts). With k1, tq_r follows the upper bound s + epsUp·(nqL_r + ngL_c).
;;       `exact` replaces the s it writes.
;;   scan32f: scan32 without the per-pair checks (no diagonal; rowLimit and colLimit cover the padded tile).
;;   exact(a, b, rowBytes, nq, ng, outS, outC, count)
;;       For each appended pair, outS[t] = the exact s of scan64 (same arithmetic), from the Float64 rows.
;;   norms(a, rowBytes, rows, out)                     out[r] = dot(A_r, A_r)
;; Each Float64 dot keeps an f64x2 accumulator (lane 0 = even coordinates, lane 1 = odd) and returns lane0 + lane1.
;;
;; The scans keep a 4×2 register tile: rows $ai, $a1, $a2, $a3 (row $rr + 0..3) against columns $bj, $b1 (column
;; $cc + 0..1), accumulators $acc<row><column>, 32 bytes of each row per step of the inner loop. WebAssembly text
;; has no macros, so the tile is written out: the eight pair blocks of a scan differ only in their row and column.
;; Each pair block: s, then flags = (s ≤ tq_r) | (s ≤ tg_c) << 1 (with the checks: and-ed with −(((c > r) | notDiag)
;; & row r inside & column c inside)); when flags ≠ 0 it appends (s, flags << 30 | r << 15 | c) and, with k1,
;; tightens tq_r.
(module
  (type $scan64T (func (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (type $normsT (func (param i32 i32 i32 i32)))
  (type $scan32T (func (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 f64) (result i32)))
  (type $exactT (func (param i32 i32 i32 i32 i32 i32 i32 i32)))
  (import "e" "m" (memory $e.m 1))
  ;; scan64: the Float64 scan, with the per-pair checks (diagonal, tile edges).
  (func $scan64 (type $scan64T) (param $a i32) (param $b i32) (param $rowBytes i32) (param $rows i32) (param $cols i32)
      (param $nq i32) (param $ng i32) (param $tq i32) (param $tg i32) (param $outS i32) (param $outC i32)
      (param $notDiag i32) (param $rowLimit i32) (param $colLimit i32) (param $k1 i32) (result i32)
    (local $ai i32) (local $aEnd i32) (local $bj i32) (local $bEnd i32) (local $k i32) (local $a1 i32) (local $a2 i32)
    (local $a3 i32) (local $b1 i32) (local $rr i32) (local $cc i32) (local $cnt i32) (local $nq0 f64) (local $nq1 f64)
    (local $nq2 f64) (local $nq3 f64) (local $tq0 f64) (local $tq1 f64) (local $tq2 f64) (local $tq3 f64)
    (local $ng0 f64) (local $ng1 f64) (local $tg0 f64) (local $tg1 f64) (local $s f64) (local $acc00 v128)
    (local $acc01 v128) (local $acc10 v128) (local $acc11 v128) (local $acc20 v128) (local $acc21 v128)
    (local $acc30 v128) (local $acc31 v128) (local $x0 v128) (local $x1 v128) (local $y v128) (local $flags i32)
    (local $rowOk0 i32) (local $rowOk1 i32) (local $rowOk2 i32) (local $rowOk3 i32) (local $colOk0 i32)
    (local $colOk1 i32)
    (local.set $aEnd (i32.add (local.get $a) (i32.mul (local.get $rows) (local.get $rowBytes))))
    (local.set $bEnd (i32.add (local.get $b) (i32.mul (local.get $cols) (local.get $rowBytes))))
    (local.set $ai (local.get $a))
    (local.set $rr (i32.const 0))
    (local.set $cnt (i32.const 0))
    (block $B0
      (loop $L1
        (br_if $B0 (i32.ge_u (local.get $ai) (local.get $aEnd)))
        (local.set $a1 (i32.add (local.get $ai) (local.get $rowBytes)))
        (local.set $a2 (i32.add (local.get $a1) (local.get $rowBytes)))
        (local.set $a3 (i32.add (local.get $a2) (local.get $rowBytes)))
        (local.set $nq0 (f64.load (i32.add (local.get $nq) (i32.shl (local.get $rr) (i32.const 3)))))
        (local.set $tq0 (f64.load (i32.add (local.get $tq) (i32.shl (local.get $rr) (i32.const 3)))))
        (local.set $rowOk0 (i32.lt_s (i32.add (local.get $rr) (i32.const 0)) (local.get $rowLimit)))
        (local.set $nq1 (f64.load offset=8 (i32.add (local.get $nq) (i32.shl (local.get $rr) (i32.const 3)))))
        (local.set $tq1 (f64.load offset=8 (i32.add (local.get $tq) (i32.shl (local.get $rr) (i32.const 3)))))
        (local.set $rowOk1 (i32.lt_s (i32.add (local.get $rr) (i32.const 1)) (local.get $rowLimit)))
        (local.set $nq2 (f64.load offset=16 (i32.add (local.get $nq) (i32.shl (local.get $rr) (i32.const 3)))))
        (local.set $tq2 (f64.load offset=16 (i32.add (local.get $tq) (i32.shl (local.get $rr) (i32.const 3)))))
        (local.set $rowOk2 (i32.lt_s (i32.add (local.get $rr) (i32.const 2)) (local.get $rowLimit)))
        (local.set $nq3 (f64.load offset=24 (i32.add (local.get $nq) (i32.shl (local.get $rr) (i32.const 3)))))
        (local.set $tq3 (f64.load offset=24 (i32.add (local.get $tq) (i32.shl (local.get $rr) (i32.const 3)))))
        (local.set $rowOk3 (i32.lt_s (i32.add (local.get $rr) (i32.const 3)) (local.get $rowLimit)))
        (local.set $bj (local.get $b))
        (local.set $cc (i32.const 0))
        (block $B2
          (loop $L3
            (br_if $B2 (i32.ge_u (local.get $bj) (local.get $bEnd)))
            (local.set $b1 (i32.add (local.get $bj) (local.get $rowBytes)))
            (local.set $acc00 (v128.const i64x2 0 0))
            (local.set $acc01 (v128.const i64x2 0 0))
            (local.set $acc10 (v128.const i64x2 0 0))
            (local.set $acc11 (v128.const i64x2 0 0))
            (local.set $acc20 (v128.const i64x2 0 0))
            (local.set $acc21 (v128.const i64x2 0 0))
            (local.set $acc30 (v128.const i64x2 0 0))
            (local.set $acc31 (v128.const i64x2 0 0))
            (local.set $k (i32.const 0))
            (block $B4
              (loop $L5
                (br_if $B4 (i32.ge_u (local.get $k) (local.get $rowBytes)))
                (local.set $x0 (v128.load (i32.add (local.get $bj) (local.get $k))))
                (local.set $x1 (v128.load (i32.add (local.get $b1) (local.get $k))))
                (local.set $y (v128.load (i32.add (local.get $ai) (local.get $k))))
                (local.set $acc00 (f64x2.add (local.get $acc00) (f64x2.mul (local.get $y) (local.get $x0))))
                (local.set $acc01 (f64x2.add (local.get $acc01) (f64x2.mul (local.get $y) (local.get $x1))))
                (local.set $y (v128.load (i32.add (local.get $a1) (local.get $k))))
                (local.set $acc10 (f64x2.add (local.get $acc10) (f64x2.mul (local.get $y) (local.get $x0))))
                (local.set $acc11 (f64x2.add (local.get $acc11) (f64x2.mul (local.get $y) (local.get $x1))))
                (local.set $y (v128.load (i32.add (local.get $a2) (local.get $k))))
                (local.set $acc20 (f64x2.add (local.get $acc20) (f64x2.mul (local.get $y) (local.get $x0))))
                (local.set $acc21 (f64x2.add (local.get $acc21) (f64x2.mul (local.get $y) (local.get $x1))))
                (local.set $y (v128.load (i32.add (local.get $a3) (local.get $k))))
                (local.set $acc30 (f64x2.add (local.get $acc30) (f64x2.mul (local.get $y) (local.get $x0))))
                (local.set $acc31 (f64x2.add (local.get $acc31) (f64x2.mul (local.get $y) (local.get $x1))))
                (local.set $x0 (v128.load offset=16 (i32.add (local.get $bj) (local.get $k))))
                (local.set $x1 (v128.load offset=16 (i32.add (local.get $b1) (local.get $k))))
                (local.set $y (v128.load offset=16 (i32.add (local.get $ai) (local.get $k))))
                (local.set $acc00 (f64x2.add (local.get $acc00) (f64x2.mul (local.get $y) (local.get $x0))))
                (local.set $acc01 (f64x2.add (local.get $acc01) (f64x2.mul (local.get $y) (local.get $x1))))
                (local.set $y (v128.load offset=16 (i32.add (local.get $a1) (local.get $k))))
                (local.set $acc10 (f64x2.add (local.get $acc10) (f64x2.mul (local.get $y) (local.get $x0))))
                (local.set $acc11 (f64x2.add (local.get $acc11) (f64x2.mul (local.get $y) (local.get $x1))))
                (local.set $y (v128.load offset=16 (i32.add (local.get $a2) (local.get $k))))
                (local.set $acc20 (f64x2.add (local.get $acc20) (f64x2.mul (local.get $y) (local.get $x0))))
                (local.set $acc21 (f64x2.add (local.get $acc21) (f64x2.mul (local.get $y) (local.get $x1))))
                (local.set $y (v128.load offset=16 (i32.add (local.get $a3) (local.get $k))))
                (local.set $acc30 (f64x2.add (local.get $acc30) (f64x2.mul (local.get $y) (local.get $x0))))
                (local.set $acc31 (f64x2.add (local.get $acc31) (f64x2.mul (local.get $y) (local.get $x1))))
                (local.set $k (i32.add (local.get $k) (i32.const 32)))
                (br $L5)))
            (local.set $ng0 (f64.load (i32.add (local.get $ng) (i32.shl (local.get $cc) (i32.const 3)))))
            (local.set $tg0 (f64.load (i32.add (local.get $tg) (i32.shl (local.get $cc) (i32.const 3)))))
            (local.set $colOk0 (i32.lt_s (i32.add (local.get $cc) (i32.const 0)) (local.get $colLimit)))
            (local.set $ng1 (f64.load offset=8 (i32.add (local.get $ng) (i32.shl (local.get $cc) (i32.const 3)))))
            (local.set $tg1 (f64.load offset=8 (i32.add (local.get $tg) (i32.shl (local.get $cc) (i32.const 3)))))
            (local.set $colOk1 (i32.lt_s (i32.add (local.get $cc) (i32.const 1)) (local.get $colLimit)))
            (local.set $s
              (f64.max
                (f64.sub
                  (f64.add (local.get $nq0) (local.get $ng0))
                  (f64.add
                    (local.tee $s
                      (f64.add (f64x2.extract_lane 0 (local.get $acc00)) (f64x2.extract_lane 1 (local.get $acc00))))
                    (local.get $s)))
                (f64.const 0)))
            (if $I6
              (local.tee $flags
                (i32.and
                  (i32.or
                    (f64.le (local.get $s) (local.get $tq0))
                    (i32.shl (f64.le (local.get $s) (local.get $tg0)) (i32.const 1)))
                  (i32.sub
                    (i32.const 0)
                    (i32.and
                      (i32.and
                        (i32.or
                          (i32.gt_s (i32.add (local.get $cc) (i32.const 0)) (i32.add (local.get $rr) (i32.const 0)))
                          (local.get $notDiag))
                        (local.get $rowOk0))
                      (local.get $colOk0)))))
              (then
                (f64.store (i32.add (local.get $outS) (i32.shl (local.get $cnt) (i32.const 3))) (local.get $s))
                (i32.store
                  (i32.add (local.get $outC) (i32.shl (local.get $cnt) (i32.const 2)))
                  (i32.or
                    (i32.or
                      (i32.shl (local.get $flags) (i32.const 30))
                      (i32.shl (i32.add (local.get $rr) (i32.const 0)) (i32.const 15)))
                    (i32.add (local.get $cc) (i32.const 0))))
                (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
                (if $I7 (local.get $k1) (then (local.set $tq0 (f64.min (local.get $tq0) (local.get $s)))))))
            (local.set $s
              (f64.max
                (f64.sub
                  (f64.add (local.get $nq0) (local.get $ng1))
                  (f64.add
                    (local.tee $s
                      (f64.add (f64x2.extract_lane 0 (local.get $acc01)) (f64x2.extract_lane 1 (local.get $acc01))))
                    (local.get $s)))
                (f64.const 0)))
            (if $I8
              (local.tee $flags
                (i32.and
                  (i32.or
                    (f64.le (local.get $s) (local.get $tq0))
                    (i32.shl (f64.le (local.get $s) (local.get $tg1)) (i32.const 1)))
                  (i32.sub
                    (i32.const 0)
                    (i32.and
                      (i32.and
                        (i32.or
                          (i32.gt_s (i32.add (local.get $cc) (i32.const 1)) (i32.add (local.get $rr) (i32.const 0)))
                          (local.get $notDiag))
                        (local.get $rowOk0))
                      (local.get $colOk1)))))
              (then
                (f64.store (i32.add (local.get $outS) (i32.shl (local.get $cnt) (i32.const 3))) (local.get $s))
                (i32.store
                  (i32.add (local.get $outC) (i32.shl (local.get $cnt) (i32.const 2)))
                  (i32.or
                    (i32.or
                      (i32.shl (local.get $flags) (i32.const 30))
                      (i32.shl (i32.add (local.get $rr) (i32.const 0)) (i32.const 15)))
                    (i32.add (local.get $cc) (i32.const 1))))
                (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
                (if $I9 (local.get $k1) (then (local.set $tq0 (f64.min (local.get $tq0) (local.get $s)))))))
            (local.set $s
              (f64.max
                (f64.sub
                  (f64.add (local.get $nq1) (local.get $ng0))
                  (f64.add
                    (local.tee $s
                      (f64.add (f64x2.extract_lane 0 (local.get $acc10)) (f64x2.extract_lane 1 (local.get $acc10))))
                    (local.get $s)))
                (f64.const 0)))
            (if $I10
              (local.tee $flags
                (i32.and
                  (i32.or
                    (f64.le (local.get $s) (local.get $tq1))
                    (i32.shl (f64.le (local.get $s) (local.get $tg0)) (i32.const 1)))
                  (i32.sub
                    (i32.const 0)
                    (i32.and
                      (i32.and
                        (i32.or
                          (i32.gt_s (i32.add (local.get $cc) (i32.const 0)) (i32.add (local.get $rr) (i32.const 1)))
                          (local.get $notDiag))
                        (local.get $rowOk1))
                      (local.get $colOk0)))))
              (then
                (f64.store (i32.add (local.get $outS) (i32.shl (local.get $cnt) (i32.const 3))) (local.get $s))
                (i32.store
                  (i32.add (local.get $outC) (i32.shl (local.get $cnt) (i32.const 2)))
                  (i32.or
                    (i32.or
                      (i32.shl (local.get $flags) (i32.const 30))
                      (i32.shl (i32.add (local.get $rr) (i32.const 1)) (i32.const 15)))
                    (i32.add (local.get $cc) (i32.const 0))))
                (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
                (if $I11 (local.get $k1) (then (local.set $tq1 (f64.min (local.get $tq1) (local.get $s)))))))
            (local.set $s
              (f64.max
                (f64.sub
                  (f64.add (local.get $nq1) (local.get $ng1))
                  (f64.add
                    (local.tee $s
                      (f64.add (f64x2.extract_lane 0 (local.get $acc11)) (f64x2.extract_lane 1 (local.get $acc11))))
                    (local.get $s)))
                (f64.const 0)))
            (if $I12
              (local.tee $flags
                (i32.and
                  (i32.or
                    (f64.le (local.get $s) (local.get $tq1))
                    (i32.shl (f64.le (local.get $s) (local.get $tg1)) (i32.const 1)))
                  (i32.sub
                    (i32.const 0)
                    (i32.and
                      (i32.and
                        (i32.or
                          (i32.gt_s (i32.add (local.get $cc) (i32.const 1)) (i32.add (local.get $rr) (i32.const 1)))
                          (local.get $notDiag))
                        (local.get $rowOk1))
                      (local.get $colOk1)))))
              (then
                (f64.store (i32.add (local.get $outS) (i32.shl (local.get $cnt) (i32.const 3))) (local.get $s))
                (i32.store
                  (i32.add (local.get $outC) (i32.shl (local.get $cnt) (i32.const 2)))
                  (i32.or
                    (i32.or
                      (i32.shl (local.get $flags) (i32.const 30))
                      (i32.shl (i32.add (local.get $rr) (i32.const 1)) (i32.const 15)))
                    (i32.add (local.get $cc) (i32.const 1))))
                (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
                (if $I13 (local.get $k1) (then (local.set $tq1 (f64.min (local.get $tq1) (local.get $s)))))))
            (local.set $s
              (f64.max
                (f64.sub
                  (f64.add (local.get $nq2) (local.get $ng0))
                  (f64.add
                    (local.tee $s
                      (f64.add (f64x2.extract_lane 0 (local.get $acc20)) (f64x2.extract_lane 1 (local.get $acc20))))
                    (local.get $s)))
                (f64.const 0)))
            (if $I14
              (local.tee $flags
                (i32.and
                  (i32.or
                    (f64.le (local.get $s) (local.get $tq2))
                    (i32.shl (f64.le (local.get $s) (local.get $tg0)) (i32.const 1)))
                  (i32.sub
                    (i32.const 0)
                    (i32.and
                      (i32.and
                        (i32.or
                          (i32.gt_s (i32.add (local.get $cc) (i32.const 0)) (i32.add (local.get $rr) (i32.const 2)))
                          (local.get $notDiag))
                        (local.get $rowOk2))
                      (local.get $colOk0)))))
              (then
                (f64.store (i32.add (local.get $outS) (i32.shl (local.get $cnt) (i32.const 3))) (local.get $s))
                (i32.store
                  (i32.add (local.get $outC) (i32.shl (local.get $cnt) (i32.const 2)))
                  (i32.or
                    (i32.or
                      (i32.shl (local.get $flags) (i32.const 30))
                      (i32.shl (i32.add (local.get $rr) (i32.const 2)) (i32.const 15)))
                    (i32.add (local.get $cc) (i32.const 0))))
                (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
                (if $I15 (local.get $k1) (then (local.set $tq2 (f64.min (local.get $tq2) (local.get $s)))))))
            (local.set $s
              (f64.max
                (f64.sub
                  (f64.add (local.get $nq2) (local.get $ng1))
                  (f64.add
                    (local.tee $s
                      (f64.add (f64x2.extract_lane 0 (local.get $acc21)) (f64x2.extract_lane 1 (local.get $acc21))))
                    (local.get $s)))
                (f64.const 0)))
            (if $I16
              (local.tee $flags
                (i32.and
                  (i32.or
                    (f64.le (local.get $s) (local.get $tq2))
                    (i32.shl (f64.le (local.get $s) (local.get $tg1)) (i32.const 1)))
                  (i32.sub
                    (i32.const 0)
                    (i32.and
                      (i32.and
                        (i32.or
                          (i32.gt_s (i32.add (local.get $cc) (i32.const 1)) (i32.add (local.get $rr) (i32.const 2)))
                          (local.get $notDiag))
                        (local.get $rowOk2))
                      (local.get $colOk1)))))
              (then
                (f64.store (i32.add (local.get $outS) (i32.shl (local.get $cnt) (i32.const 3))) (local.get $s))
                (i32.store
                  (i32.add (local.get $outC) (i32.shl (local.get $cnt) (i32.const 2)))
                  (i32.or
                    (i32.or
                      (i32.shl (local.get $flags) (i32.const 30))
                      (i32.shl (i32.add (local.get $rr) (i32.const 2)) (i32.const 15)))
                    (i32.add (local.get $cc) (i32.const 1))))
                (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
                (if $I17 (local.get $k1) (then (local.set $tq2 (f64.min (local.get $tq2) (local.get $s)))))))
            (local.set $s
              (f64.max
                (f64.sub
                  (f64.add (local.get $nq3) (local.get $ng0))
                  (f64.add
                    (local.tee $s
                      (f64.add (f64x2.extract_lane 0 (local.get $acc30)) (f64x2.extract_lane 1 (local.get $acc30))))
                    (local.get $s)))
                (f64.const 0)))
            (if $I18
              (local.tee $flags
                (i32.and
                  (i32.or
                    (f64.le (local.get $s) (local.get $tq3))
                    (i32.shl (f64.le (local.get $s) (local.get $tg0)) (i32.const 1)))
                  (i32.sub
                    (i32.const 0)
                    (i32.and
                      (i32.and
                        (i32.or
                          (i32.gt_s (i32.add (local.get $cc) (i32.const 0)) (i32.add (local.get $rr) (i32.const 3)))
                          (local.get $notDiag))
                        (local.get $rowOk3))
                      (local.get $colOk0)))))
              (then
                (f64.store (i32.add (local.get $outS) (i32.shl (local.get $cnt) (i32.const 3))) (local.get $s))
                (i32.store
                  (i32.add (local.get $outC) (i32.shl (local.get $cnt) (i32.const 2)))
                  (i32.or
                    (i32.or
                      (i32.shl (local.get $flags) (i32.const 30))
                      (i32.shl (i32.add (local.get $rr) (i32.const 3)) (i32.const 15)))
                    (i32.add (local.get $cc) (i32.const 0))))
                (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
                (if $I19 (local.get $k1) (then (local.set $tq3 (f64.min (local.get $tq3) (local.get $s)))))))
            (local.set $s
              (f64.max
                (f64.sub
                  (f64.add (local.get $nq3) (local.get $ng1))
                  (f64.add
                    (local.tee $s
                      (f64.add (f64x2.extract_lane 0 (local.get $acc31)) (f64x2.extract_lane 1 (local.get $acc31))))
                    (local.get $s)))
                (f64.const 0)))
            (if $I20
              (local.tee $flags
                (i32.and
                  (i32.or
                    (f64.le (local.get $s) (local.get $tq3))
                    (i32.shl (f64.le (local.get $s) (local.get $tg1)) (i32.const 1)))
                  (i32.sub
                    (i32.const 0)
                    (i32.and
                      (i32.and
                        (i32.or
                          (i32.gt_s (i32.add (local.get $cc) (i32.const 1)) (i32.add (local.get $rr) (i32.const 3)))
                          (local.get $notDiag))
                        (local.get $rowOk3))
                      (local.get $colOk1)))))
              (then
                (f64.store (i32.add (local.get $outS) (i32.shl (local.get $cnt) (i32.const 3))) (local.get $s))
                (i32.store
                  (i32.add (local.get $outC) (i32.shl (local.get $cnt) (i32.const 2)))
                  (i32.or
                    (i32.or
                      (i32.shl (local.get $flags) (i32.const 30))
                      (i32.shl (i32.add (local.get $rr) (i32.const 3)) (i32.const 15)))
                    (i32.add (local.get $cc) (i32.const 1))))
                (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
                (if $I21 (local.get $k1) (then (local.set $tq3 (f64.min (local.get $tq3) (local.get $s)))))))
            (local.set $bj (i32.add (local.get $bj) (i32.add (local.get $rowBytes) (local.get $rowBytes))))
            (local.set $cc (i32.add (local.get $cc) (i32.const 2)))
            (br $L3)))
        (local.set $ai (i32.add (local.get $a3) (local.get $rowBytes)))
        (local.set $rr (i32.add (local.get $rr) (i32.const 4)))
        (br $L1)))
    (local.get $cnt))
  ;; norms: out[r] = dot(A_r, A_r), the f64x2 dot of the scans.
  (func $norms (type $normsT) (param $a i32) (param $rowBytes i32) (param $rows i32) (param $out i32)
    (local $ai i32) (local $aEnd i32) (local $k i32) (local $o i32) (local $acc v128) (local $y v128)
    (local.set $aEnd (i32.add (local.get $a) (i32.mul (local.get $rows) (local.get $rowBytes))))
    (local.set $ai (local.get $a))
    (local.set $o (local.get $out))
    (block $B0
      (loop $L1
        (br_if $B0 (i32.ge_u (local.get $ai) (local.get $aEnd)))
        (local.set $acc (v128.const i64x2 0 0))
        (local.set $k (i32.const 0))
        (block $B2
          (loop $L3
            (br_if $B2 (i32.ge_u (local.get $k) (local.get $rowBytes)))
            (local.set $y (v128.load (i32.add (local.get $ai) (local.get $k))))
            (local.set $acc (f64x2.add (local.get $acc) (f64x2.mul (local.get $y) (local.get $y))))
            (local.set $k (i32.add (local.get $k) (i32.const 16)))
            (br $L3)))
        (f64.store
          (local.get $o)
          (f64.add (f64x2.extract_lane 0 (local.get $acc)) (f64x2.extract_lane 1 (local.get $acc))))
        (local.set $ai (i32.add (local.get $ai) (local.get $rowBytes)))
        (local.set $o (i32.add (local.get $o) (i32.const 8)))
        (br $L1))))
  ;; scan32: the Float32 pre-filter scan (a lower bound of s), with the per-pair checks.
  (func $scan32 (type $scan32T) (param $a i32) (param $b i32) (param $rowBytes i32) (param $rows i32) (param $cols i32)
      (param $nq i32) (param $ng i32) (param $tq i32) (param $tg i32) (param $outS i32) (param $outC i32)
      (param $notDiag i32) (param $rowLimit i32) (param $colLimit i32) (param $k1 i32) (param $epsUp f64) (result i32)
    (local $ai i32) (local $aEnd i32) (local $bj i32) (local $bEnd i32) (local $k i32) (local $a1 i32) (local $a2 i32)
    (local $a3 i32) (local $b1 i32) (local $rr i32) (local $cc i32) (local $cnt i32) (local $nq0 f64) (local $nq1 f64)
    (local $nq2 f64) (local $nq3 f64) (local $tq0 f64) (local $tq1 f64) (local $tq2 f64) (local $tq3 f64)
    (local $ng0 f64) (local $ng1 f64) (local $tg0 f64) (local $tg1 f64) (local $s f64) (local $acc00 v128)
    (local $acc01 v128) (local $acc10 v128) (local $acc11 v128) (local $acc20 v128) (local $acc21 v128)
    (local $acc30 v128) (local $acc31 v128) (local $x0 v128) (local $x1 v128) (local $y v128) (local $flags i32)
    (local $rowOk0 i32) (local $rowOk1 i32) (local $rowOk2 i32) (local $rowOk3 i32) (local $colOk0 i32)
    (local $colOk1 i32)
    (local.set $aEnd (i32.add (local.get $a) (i32.mul (local.get $rows) (local.get $rowBytes))))
    (local.set $bEnd (i32.add (local.get $b) (i32.mul (local.get $cols) (local.get $rowBytes))))
    (local.set $ai (local.get $a))
    (local.set $rr (i32.const 0))
    (local.set $cnt (i32.const 0))
    (block $B0
      (loop $L1
        (br_if $B0 (i32.ge_u (local.get $ai) (local.get $aEnd)))
        (local.set $a1 (i32.add (local.get $ai) (local.get $rowBytes)))
        (local.set $a2 (i32.add (local.get $a1) (local.get $rowBytes)))
        (local.set $a3 (i32.add (local.get $a2) (local.get $rowBytes)))
        (local.set $nq0 (f64.load (i32.add (local.get $nq) (i32.shl (local.get $rr) (i32.const 3)))))
        (local.set $tq0 (f64.load (i32.add (local.get $tq) (i32.shl (local.get $rr) (i32.const 3)))))
        (local.set $rowOk0 (i32.lt_s (i32.add (local.get $rr) (i32.const 0)) (local.get $rowLimit)))
        (local.set $nq1 (f64.load offset=8 (i32.add (local.get $nq) (i32.shl (local.get $rr) (i32.const 3)))))
        (local.set $tq1 (f64.load offset=8 (i32.add (local.get $tq) (i32.shl (local.get $rr) (i32.const 3)))))
        (local.set $rowOk1 (i32.lt_s (i32.add (local.get $rr) (i32.const 1)) (local.get $rowLimit)))
        (local.set $nq2 (f64.load offset=16 (i32.add (local.get $nq) (i32.shl (local.get $rr) (i32.const 3)))))
        (local.set $tq2 (f64.load offset=16 (i32.add (local.get $tq) (i32.shl (local.get $rr) (i32.const 3)))))
        (local.set $rowOk2 (i32.lt_s (i32.add (local.get $rr) (i32.const 2)) (local.get $rowLimit)))
        (local.set $nq3 (f64.load offset=24 (i32.add (local.get $nq) (i32.shl (local.get $rr) (i32.const 3)))))
        (local.set $tq3 (f64.load offset=24 (i32.add (local.get $tq) (i32.shl (local.get $rr) (i32.const 3)))))
        (local.set $rowOk3 (i32.lt_s (i32.add (local.get $rr) (i32.const 3)) (local.get $rowLimit)))
        (local.set $bj (local.get $b))
        (local.set $cc (i32.const 0))
        (block $B2
          (loop $L3
            (br_if $B2 (i32.ge_u (local.get $bj) (local.get $bEnd)))
            (local.set $b1 (i32.add (local.get $bj) (local.get $rowBytes)))
            (local.set $acc00 (v128.const i64x2 0 0))
            (local.set $acc01 (v128.const i64x2 0 0))
            (local.set $acc10 (v128.const i64x2 0 0))
            (local.set $acc11 (v128.const i64x2 0 0))
            (local.set $acc20 (v128.const i64x2 0 0))
            (local.set $acc21 (v128.const i64x2 0 0))
            (local.set $acc30 (v128.const i64x2 0 0))
            (local.set $acc31 (v128.const i64x2 0 0))
            (local.set $k (i32.const 0))
            (block $B4
              (loop $L5
                (br_if $B4 (i32.ge_u (local.get $k) (local.get $rowBytes)))
                (local.set $x0 (v128.load (i32.add (local.get $bj) (local.get $k))))
                (local.set $x1 (v128.load (i32.add (local.get $b1) (local.get $k))))
                (local.set $y (v128.load (i32.add (local.get $ai) (local.get $k))))
                (local.set $acc00 (f32x4.add (local.get $acc00) (f32x4.mul (local.get $y) (local.get $x0))))
                (local.set $acc01 (f32x4.add (local.get $acc01) (f32x4.mul (local.get $y) (local.get $x1))))
                (local.set $y (v128.load (i32.add (local.get $a1) (local.get $k))))
                (local.set $acc10 (f32x4.add (local.get $acc10) (f32x4.mul (local.get $y) (local.get $x0))))
                (local.set $acc11 (f32x4.add (local.get $acc11) (f32x4.mul (local.get $y) (local.get $x1))))
                (local.set $y (v128.load (i32.add (local.get $a2) (local.get $k))))
                (local.set $acc20 (f32x4.add (local.get $acc20) (f32x4.mul (local.get $y) (local.get $x0))))
                (local.set $acc21 (f32x4.add (local.get $acc21) (f32x4.mul (local.get $y) (local.get $x1))))
                (local.set $y (v128.load (i32.add (local.get $a3) (local.get $k))))
                (local.set $acc30 (f32x4.add (local.get $acc30) (f32x4.mul (local.get $y) (local.get $x0))))
                (local.set $acc31 (f32x4.add (local.get $acc31) (f32x4.mul (local.get $y) (local.get $x1))))
                (local.set $x0 (v128.load offset=16 (i32.add (local.get $bj) (local.get $k))))
                (local.set $x1 (v128.load offset=16 (i32.add (local.get $b1) (local.get $k))))
                (local.set $y (v128.load offset=16 (i32.add (local.get $ai) (local.get $k))))
                (local.set $acc00 (f32x4.add (local.get $acc00) (f32x4.mul (local.get $y) (local.get $x0))))
                (local.set $acc01 (f32x4.add (local.get $acc01) (f32x4.mul (local.get $y) (local.get $x1))))
                (local.set $y (v128.load offset=16 (i32.add (local.get $a1) (local.get $k))))
                (local.set $acc10 (f32x4.add (local.get $acc10) (f32x4.mul (local.get $y) (local.get $x0))))
                (local.set $acc11 (f32x4.add (local.get $acc11) (f32x4.mul (local.get $y) (local.get $x1))))
                (local.set $y (v128.load offset=16 (i32.add (local.get $a2) (local.get $k))))
                (local.set $acc20 (f32x4.add (local.get $acc20) (f32x4.mul (local.get $y) (local.get $x0))))
                (local.set $acc21 (f32x4.add (local.get $acc21) (f32x4.mul (local.get $y) (local.get $x1))))
                (local.set $y (v128.load offset=16 (i32.add (local.get $a3) (local.get $k))))
                (local.set $acc30 (f32x4.add (local.get $acc30) (f32x4.mul (local.get $y) (local.get $x0))))
                (local.set $acc31 (f32x4.add (local.get $acc31) (f32x4.mul (local.get $y) (local.get $x1))))
                (local.set $k (i32.add (local.get $k) (i32.const 32)))
                (br $L5)))
            (local.set $ng0 (f64.load (i32.add (local.get $ng) (i32.shl (local.get $cc) (i32.const 3)))))
            (local.set $tg0 (f64.load (i32.add (local.get $tg) (i32.shl (local.get $cc) (i32.const 3)))))
            (local.set $colOk0 (i32.lt_s (i32.add (local.get $cc) (i32.const 0)) (local.get $colLimit)))
            (local.set $ng1 (f64.load offset=8 (i32.add (local.get $ng) (i32.shl (local.get $cc) (i32.const 3)))))
            (local.set $tg1 (f64.load offset=8 (i32.add (local.get $tg) (i32.shl (local.get $cc) (i32.const 3)))))
            (local.set $colOk1 (i32.lt_s (i32.add (local.get $cc) (i32.const 1)) (local.get $colLimit)))
            (local.set $s
              (f64.sub
                (f64.add (local.get $nq0) (local.get $ng0))
                (f64.add
                  (local.tee $s
                    (f64.promote_f32
                      (f32x4.extract_lane 0
                        (f32x4.add
                          (local.tee $acc00
                            (f32x4.add
                              (local.get $acc00)
                              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
                                (local.get $acc00)
                                (local.get $acc00))))
                          (i8x16.shuffle 4 5 6 7 0 1 2 3 8 9 10 11 12 13 14 15 (local.get $acc00) (local.get $acc00))))))
                  (local.get $s))))
            (if $I6
              (local.tee $flags
                (i32.and
                  (i32.or
                    (f64.le (local.get $s) (local.get $tq0))
                    (i32.shl (f64.le (local.get $s) (local.get $tg0)) (i32.const 1)))
                  (i32.sub
                    (i32.const 0)
                    (i32.and
                      (i32.and
                        (i32.or
                          (i32.gt_s (i32.add (local.get $cc) (i32.const 0)) (i32.add (local.get $rr) (i32.const 0)))
                          (local.get $notDiag))
                        (local.get $rowOk0))
                      (local.get $colOk0)))))
              (then
                (f64.store (i32.add (local.get $outS) (i32.shl (local.get $cnt) (i32.const 3))) (local.get $s))
                (i32.store
                  (i32.add (local.get $outC) (i32.shl (local.get $cnt) (i32.const 2)))
                  (i32.or
                    (i32.or
                      (i32.shl (local.get $flags) (i32.const 30))
                      (i32.shl (i32.add (local.get $rr) (i32.const 0)) (i32.const 15)))
                    (i32.add (local.get $cc) (i32.const 0))))
                (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
                (if $I7
                  (local.get $k1)
                  (then
                    (local.set $tq0
                      (f64.min
                        (local.get $tq0)
                        (f64.add
                          (local.get $s)
                          (f64.mul (local.get $epsUp) (f64.add (local.get $nq0) (local.get $ng0))))))))))
            (local.set $s
              (f64.sub
                (f64.add (local.get $nq0) (local.get $ng1))
                (f64.add
                  (local.tee $s
                    (f64.promote_f32
                      (f32x4.extract_lane 0
                        (f32x4.add
                          (local.tee $acc01
                            (f32x4.add
                              (local.get $acc01)
                              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
                                (local.get $acc01)
                                (local.get $acc01))))
                          (i8x16.shuffle 4 5 6 7 0 1 2 3 8 9 10 11 12 13 14 15 (local.get $acc01) (local.get $acc01))))))
                  (local.get $s))))
            (if $I8
              (local.tee $flags
                (i32.and
                  (i32.or
                    (f64.le (local.get $s) (local.get $tq0))
                    (i32.shl (f64.le (local.get $s) (local.get $tg1)) (i32.const 1)))
                  (i32.sub
                    (i32.const 0)
                    (i32.and
                      (i32.and
                        (i32.or
                          (i32.gt_s (i32.add (local.get $cc) (i32.const 1)) (i32.add (local.get $rr) (i32.const 0)))
                          (local.get $notDiag))
                        (local.get $rowOk0))
                      (local.get $colOk1)))))
              (then
                (f64.store (i32.add (local.get $outS) (i32.shl (local.get $cnt) (i32.const 3))) (local.get $s))
                (i32.store
                  (i32.add (local.get $outC) (i32.shl (local.get $cnt) (i32.const 2)))
                  (i32.or
                    (i32.or
                      (i32.shl (local.get $flags) (i32.const 30))
                      (i32.shl (i32.add (local.get $rr) (i32.const 0)) (i32.const 15)))
                    (i32.add (local.get $cc) (i32.const 1))))
                (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
                (if $I9
                  (local.get $k1)
                  (then
                    (local.set $tq0
                      (f64.min
                        (local.get $tq0)
                        (f64.add
                          (local.get $s)
                          (f64.mul (local.get $epsUp) (f64.add (local.get $nq0) (local.get $ng1))))))))))
            (local.set $s
              (f64.sub
                (f64.add (local.get $nq1) (local.get $ng0))
                (f64.add
                  (local.tee $s
                    (f64.promote_f32
                      (f32x4.extract_lane 0
                        (f32x4.add
                          (local.tee $acc10
                            (f32x4.add
                              (local.get $acc10)
                              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
                                (local.get $acc10)
                                (local.get $acc10))))
                          (i8x16.shuffle 4 5 6 7 0 1 2 3 8 9 10 11 12 13 14 15 (local.get $acc10) (local.get $acc10))))))
                  (local.get $s))))
            (if $I10
              (local.tee $flags
                (i32.and
                  (i32.or
                    (f64.le (local.get $s) (local.get $tq1))
                    (i32.shl (f64.le (local.get $s) (local.get $tg0)) (i32.const 1)))
                  (i32.sub
                    (i32.const 0)
                    (i32.and
                      (i32.and
                        (i32.or
                          (i32.gt_s (i32.add (local.get $cc) (i32.const 0)) (i32.add (local.get $rr) (i32.const 1)))
                          (local.get $notDiag))
                        (local.get $rowOk1))
                      (local.get $colOk0)))))
              (then
                (f64.store (i32.add (local.get $outS) (i32.shl (local.get $cnt) (i32.const 3))) (local.get $s))
                (i32.store
                  (i32.add (local.get $outC) (i32.shl (local.get $cnt) (i32.const 2)))
                  (i32.or
                    (i32.or
                      (i32.shl (local.get $flags) (i32.const 30))
                      (i32.shl (i32.add (local.get $rr) (i32.const 1)) (i32.const 15)))
                    (i32.add (local.get $cc) (i32.const 0))))
                (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
                (if $I11
                  (local.get $k1)
                  (then
                    (local.set $tq1
                      (f64.min
                        (local.get $tq1)
                        (f64.add
                          (local.get $s)
                          (f64.mul (local.get $epsUp) (f64.add (local.get $nq1) (local.get $ng0))))))))))
            (local.set $s
              (f64.sub
                (f64.add (local.get $nq1) (local.get $ng1))
                (f64.add
                  (local.tee $s
                    (f64.promote_f32
                      (f32x4.extract_lane 0
                        (f32x4.add
                          (local.tee $acc11
                            (f32x4.add
                              (local.get $acc11)
                              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
                                (local.get $acc11)
                                (local.get $acc11))))
                          (i8x16.shuffle 4 5 6 7 0 1 2 3 8 9 10 11 12 13 14 15 (local.get $acc11) (local.get $acc11))))))
                  (local.get $s))))
            (if $I12
              (local.tee $flags
                (i32.and
                  (i32.or
                    (f64.le (local.get $s) (local.get $tq1))
                    (i32.shl (f64.le (local.get $s) (local.get $tg1)) (i32.const 1)))
                  (i32.sub
                    (i32.const 0)
                    (i32.and
                      (i32.and
                        (i32.or
                          (i32.gt_s (i32.add (local.get $cc) (i32.const 1)) (i32.add (local.get $rr) (i32.const 1)))
                          (local.get $notDiag))
                        (local.get $rowOk1))
                      (local.get $colOk1)))))
              (then
                (f64.store (i32.add (local.get $outS) (i32.shl (local.get $cnt) (i32.const 3))) (local.get $s))
                (i32.store
                  (i32.add (local.get $outC) (i32.shl (local.get $cnt) (i32.const 2)))
                  (i32.or
                    (i32.or
                      (i32.shl (local.get $flags) (i32.const 30))
                      (i32.shl (i32.add (local.get $rr) (i32.const 1)) (i32.const 15)))
                    (i32.add (local.get $cc) (i32.const 1))))
                (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
                (if $I13
                  (local.get $k1)
                  (then
                    (local.set $tq1
                      (f64.min
                        (local.get $tq1)
                        (f64.add
                          (local.get $s)
                          (f64.mul (local.get $epsUp) (f64.add (local.get $nq1) (local.get $ng1))))))))))
            (local.set $s
              (f64.sub
                (f64.add (local.get $nq2) (local.get $ng0))
                (f64.add
                  (local.tee $s
                    (f64.promote_f32
                      (f32x4.extract_lane 0
                        (f32x4.add
                          (local.tee $acc20
                            (f32x4.add
                              (local.get $acc20)
                              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
                                (local.get $acc20)
                                (local.get $acc20))))
                          (i8x16.shuffle 4 5 6 7 0 1 2 3 8 9 10 11 12 13 14 15 (local.get $acc20) (local.get $acc20))))))
                  (local.get $s))))
            (if $I14
              (local.tee $flags
                (i32.and
                  (i32.or
                    (f64.le (local.get $s) (local.get $tq2))
                    (i32.shl (f64.le (local.get $s) (local.get $tg0)) (i32.const 1)))
                  (i32.sub
                    (i32.const 0)
                    (i32.and
                      (i32.and
                        (i32.or
                          (i32.gt_s (i32.add (local.get $cc) (i32.const 0)) (i32.add (local.get $rr) (i32.const 2)))
                          (local.get $notDiag))
                        (local.get $rowOk2))
                      (local.get $colOk0)))))
              (then
                (f64.store (i32.add (local.get $outS) (i32.shl (local.get $cnt) (i32.const 3))) (local.get $s))
                (i32.store
                  (i32.add (local.get $outC) (i32.shl (local.get $cnt) (i32.const 2)))
                  (i32.or
                    (i32.or
                      (i32.shl (local.get $flags) (i32.const 30))
                      (i32.shl (i32.add (local.get $rr) (i32.const 2)) (i32.const 15)))
                    (i32.add (local.get $cc) (i32.const 0))))
                (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
                (if $I15
                  (local.get $k1)
                  (then
                    (local.set $tq2
                      (f64.min
                        (local.get $tq2)
                        (f64.add
                          (local.get $s)
                          (f64.mul (local.get $epsUp) (f64.add (local.get $nq2) (local.get $ng0))))))))))
            (local.set $s
              (f64.sub
                (f64.add (local.get $nq2) (local.get $ng1))
                (f64.add
                  (local.tee $s
                    (f64.promote_f32
                      (f32x4.extract_lane 0
                        (f32x4.add
                          (local.tee $acc21
                            (f32x4.add
                              (local.get $acc21)
                              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
                                (local.get $acc21)
                                (local.get $acc21))))
                          (i8x16.shuffle 4 5 6 7 0 1 2 3 8 9 10 11 12 13 14 15 (local.get $acc21) (local.get $acc21))))))
                  (local.get $s))))
            (if $I16
              (local.tee $flags
                (i32.and
                  (i32.or
                    (f64.le (local.get $s) (local.get $tq2))
                    (i32.shl (f64.le (local.get $s) (local.get $tg1)) (i32.const 1)))
                  (i32.sub
                    (i32.const 0)
                    (i32.and
                      (i32.and
                        (i32.or
                          (i32.gt_s (i32.add (local.get $cc) (i32.const 1)) (i32.add (local.get $rr) (i32.const 2)))
                          (local.get $notDiag))
                        (local.get $rowOk2))
                      (local.get $colOk1)))))
              (then
                (f64.store (i32.add (local.get $outS) (i32.shl (local.get $cnt) (i32.const 3))) (local.get $s))
                (i32.store
                  (i32.add (local.get $outC) (i32.shl (local.get $cnt) (i32.const 2)))
                  (i32.or
                    (i32.or
                      (i32.shl (local.get $flags) (i32.const 30))
                      (i32.shl (i32.add (local.get $rr) (i32.const 2)) (i32.const 15)))
                    (i32.add (local.get $cc) (i32.const 1))))
                (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
                (if $I17
                  (local.get $k1)
                  (then
                    (local.set $tq2
                      (f64.min
                        (local.get $tq2)
                        (f64.add
                          (local.get $s)
                          (f64.mul (local.get $epsUp) (f64.add (local.get $nq2) (local.get $ng1))))))))))
            (local.set $s
              (f64.sub
                (f64.add (local.get $nq3) (local.get $ng0))
                (f64.add
                  (local.tee $s
                    (f64.promote_f32
                      (f32x4.extract_lane 0
                        (f32x4.add
                          (local.tee $acc30
                            (f32x4.add
                              (local.get $acc30)
                              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
                                (local.get $acc30)
                                (local.get $acc30))))
                          (i8x16.shuffle 4 5 6 7 0 1 2 3 8 9 10 11 12 13 14 15 (local.get $acc30) (local.get $acc30))))))
                  (local.get $s))))
            (if $I18
              (local.tee $flags
                (i32.and
                  (i32.or
                    (f64.le (local.get $s) (local.get $tq3))
                    (i32.shl (f64.le (local.get $s) (local.get $tg0)) (i32.const 1)))
                  (i32.sub
                    (i32.const 0)
                    (i32.and
                      (i32.and
                        (i32.or
                          (i32.gt_s (i32.add (local.get $cc) (i32.const 0)) (i32.add (local.get $rr) (i32.const 3)))
                          (local.get $notDiag))
                        (local.get $rowOk3))
                      (local.get $colOk0)))))
              (then
                (f64.store (i32.add (local.get $outS) (i32.shl (local.get $cnt) (i32.const 3))) (local.get $s))
                (i32.store
                  (i32.add (local.get $outC) (i32.shl (local.get $cnt) (i32.const 2)))
                  (i32.or
                    (i32.or
                      (i32.shl (local.get $flags) (i32.const 30))
                      (i32.shl (i32.add (local.get $rr) (i32.const 3)) (i32.const 15)))
                    (i32.add (local.get $cc) (i32.const 0))))
                (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
                (if $I19
                  (local.get $k1)
                  (then
                    (local.set $tq3
                      (f64.min
                        (local.get $tq3)
                        (f64.add
                          (local.get $s)
                          (f64.mul (local.get $epsUp) (f64.add (local.get $nq3) (local.get $ng0))))))))))
            (local.set $s
              (f64.sub
                (f64.add (local.get $nq3) (local.get $ng1))
                (f64.add
                  (local.tee $s
                    (f64.promote_f32
                      (f32x4.extract_lane 0
                        (f32x4.add
                          (local.tee $acc31
                            (f32x4.add
                              (local.get $acc31)
                              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
                                (local.get $acc31)
                                (local.get $acc31))))
                          (i8x16.shuffle 4 5 6 7 0 1 2 3 8 9 10 11 12 13 14 15 (local.get $acc31) (local.get $acc31))))))
                  (local.get $s))))
            (if $I20
              (local.tee $flags
                (i32.and
                  (i32.or
                    (f64.le (local.get $s) (local.get $tq3))
                    (i32.shl (f64.le (local.get $s) (local.get $tg1)) (i32.const 1)))
                  (i32.sub
                    (i32.const 0)
                    (i32.and
                      (i32.and
                        (i32.or
                          (i32.gt_s (i32.add (local.get $cc) (i32.const 1)) (i32.add (local.get $rr) (i32.const 3)))
                          (local.get $notDiag))
                        (local.get $rowOk3))
                      (local.get $colOk1)))))
              (then
                (f64.store (i32.add (local.get $outS) (i32.shl (local.get $cnt) (i32.const 3))) (local.get $s))
                (i32.store
                  (i32.add (local.get $outC) (i32.shl (local.get $cnt) (i32.const 2)))
                  (i32.or
                    (i32.or
                      (i32.shl (local.get $flags) (i32.const 30))
                      (i32.shl (i32.add (local.get $rr) (i32.const 3)) (i32.const 15)))
                    (i32.add (local.get $cc) (i32.const 1))))
                (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
                (if $I21
                  (local.get $k1)
                  (then
                    (local.set $tq3
                      (f64.min
                        (local.get $tq3)
                        (f64.add
                          (local.get $s)
                          (f64.mul (local.get $epsUp) (f64.add (local.get $nq3) (local.get $ng1))))))))))
            (local.set $bj (i32.add (local.get $bj) (i32.add (local.get $rowBytes) (local.get $rowBytes))))
            (local.set $cc (i32.add (local.get $cc) (i32.const 2)))
            (br $L3)))
        (local.set $ai (i32.add (local.get $a3) (local.get $rowBytes)))
        (local.set $rr (i32.add (local.get $rr) (i32.const 4)))
        (br $L1)))
    (local.get $cnt))
  ;; exact: the exact Float64 s of each candidate scan32 appended (row code >>> 15 & 0x7fff, column code & 0x7fff).
  (func $exact (type $exactT) (param $a i32) (param $b i32) (param $rowBytes i32) (param $nq i32) (param $ng i32)
      (param $outS i32) (param $outC i32) (param $count i32)
    (local $t i32) (local $code i32) (local $pa i32) (local $pb i32) (local $k i32) (local $acc v128) (local $dot f64)
    (local.set $t (i32.const 0))
    (block $B0
      (loop $L1
        (br_if $B0 (i32.ge_u (local.get $t) (local.get $count)))
        (local.set $code (i32.load (i32.add (local.get $outC) (i32.shl (local.get $t) (i32.const 2)))))
        (local.set $pa
          (i32.add
            (local.get $a)
            (i32.mul (i32.and (i32.shr_u (local.get $code) (i32.const 15)) (i32.const 32767)) (local.get $rowBytes))))
        (local.set $pb
          (i32.add (local.get $b) (i32.mul (i32.and (local.get $code) (i32.const 32767)) (local.get $rowBytes))))
        (local.set $acc (v128.const i64x2 0 0))
        (local.set $k (i32.const 0))
        (block $B2
          (loop $L3
            (br_if $B2 (i32.ge_u (local.get $k) (local.get $rowBytes)))
            (local.set $acc
              (f64x2.add
                (local.get $acc)
                (f64x2.mul
                  (v128.load (i32.add (local.get $pa) (local.get $k)))
                  (v128.load (i32.add (local.get $pb) (local.get $k))))))
            (local.set $k (i32.add (local.get $k) (i32.const 16)))
            (br $L3)))
        (f64.store
          (i32.add (local.get $outS) (i32.shl (local.get $t) (i32.const 3)))
          (f64.max
            (f64.sub
              (f64.add
                (f64.load
                  (i32.add
                    (local.get $nq)
                    (i32.shl (i32.and (i32.shr_u (local.get $code) (i32.const 15)) (i32.const 32767)) (i32.const 3))))
                (f64.load
                  (i32.add (local.get $ng) (i32.shl (i32.and (local.get $code) (i32.const 32767)) (i32.const 3)))))
              (f64.add
                (local.tee $dot
                  (f64.add (f64x2.extract_lane 0 (local.get $acc)) (f64x2.extract_lane 1 (local.get $acc))))
                (local.get $dot)))
            (f64.const 0)))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $L1))))
  ;; scan32f: scan32 without the per-pair checks, for whole 4×2 groups off the diagonal.
  (func $scan32f (type $scan32T) (param $a i32) (param $b i32) (param $rowBytes i32) (param $rows i32) (param $cols i32)
      (param $nq i32) (param $ng i32) (param $tq i32) (param $tg i32) (param $outS i32) (param $outC i32)
      (param $notDiag i32) (param $rowLimit i32) (param $colLimit i32) (param $k1 i32) (param $epsUp f64) (result i32)
    (local $ai i32) (local $aEnd i32) (local $bj i32) (local $bEnd i32) (local $k i32) (local $a1 i32) (local $a2 i32)
    (local $a3 i32) (local $b1 i32) (local $rr i32) (local $cc i32) (local $cnt i32) (local $nq0 f64) (local $nq1 f64)
    (local $nq2 f64) (local $nq3 f64) (local $tq0 f64) (local $tq1 f64) (local $tq2 f64) (local $tq3 f64)
    (local $ng0 f64) (local $ng1 f64) (local $tg0 f64) (local $tg1 f64) (local $s f64) (local $acc00 v128)
    (local $acc01 v128) (local $acc10 v128) (local $acc11 v128) (local $acc20 v128) (local $acc21 v128)
    (local $acc30 v128) (local $acc31 v128) (local $x0 v128) (local $x1 v128) (local $y v128) (local $flags i32)
    (local $rowOk0 i32) (local $rowOk1 i32) (local $rowOk2 i32) (local $rowOk3 i32) (local $colOk0 i32)
    (local $colOk1 i32)
    (local.set $aEnd (i32.add (local.get $a) (i32.mul (local.get $rows) (local.get $rowBytes))))
    (local.set $bEnd (i32.add (local.get $b) (i32.mul (local.get $cols) (local.get $rowBytes))))
    (local.set $ai (local.get $a))
    (local.set $rr (i32.const 0))
    (local.set $cnt (i32.const 0))
    (block $B0
      (loop $L1
        (br_if $B0 (i32.ge_u (local.get $ai) (local.get $aEnd)))
        (local.set $a1 (i32.add (local.get $ai) (local.get $rowBytes)))
        (local.set $a2 (i32.add (local.get $a1) (local.get $rowBytes)))
        (local.set $a3 (i32.add (local.get $a2) (local.get $rowBytes)))
        (local.set $nq0 (f64.load (i32.add (local.get $nq) (i32.shl (local.get $rr) (i32.const 3)))))
        (local.set $tq0 (f64.load (i32.add (local.get $tq) (i32.shl (local.get $rr) (i32.const 3)))))
        (local.set $nq1 (f64.load offset=8 (i32.add (local.get $nq) (i32.shl (local.get $rr) (i32.const 3)))))
        (local.set $tq1 (f64.load offset=8 (i32.add (local.get $tq) (i32.shl (local.get $rr) (i32.const 3)))))
        (local.set $nq2 (f64.load offset=16 (i32.add (local.get $nq) (i32.shl (local.get $rr) (i32.const 3)))))
        (local.set $tq2 (f64.load offset=16 (i32.add (local.get $tq) (i32.shl (local.get $rr) (i32.const 3)))))
        (local.set $nq3 (f64.load offset=24 (i32.add (local.get $nq) (i32.shl (local.get $rr) (i32.const 3)))))
        (local.set $tq3 (f64.load offset=24 (i32.add (local.get $tq) (i32.shl (local.get $rr) (i32.const 3)))))
        (local.set $bj (local.get $b))
        (local.set $cc (i32.const 0))
        (block $B2
          (loop $L3
            (br_if $B2 (i32.ge_u (local.get $bj) (local.get $bEnd)))
            (local.set $b1 (i32.add (local.get $bj) (local.get $rowBytes)))
            (local.set $acc00 (v128.const i64x2 0 0))
            (local.set $acc01 (v128.const i64x2 0 0))
            (local.set $acc10 (v128.const i64x2 0 0))
            (local.set $acc11 (v128.const i64x2 0 0))
            (local.set $acc20 (v128.const i64x2 0 0))
            (local.set $acc21 (v128.const i64x2 0 0))
            (local.set $acc30 (v128.const i64x2 0 0))
            (local.set $acc31 (v128.const i64x2 0 0))
            (local.set $k (i32.const 0))
            (block $B4
              (loop $L5
                (br_if $B4 (i32.ge_u (local.get $k) (local.get $rowBytes)))
                (local.set $x0 (v128.load (i32.add (local.get $bj) (local.get $k))))
                (local.set $x1 (v128.load (i32.add (local.get $b1) (local.get $k))))
                (local.set $y (v128.load (i32.add (local.get $ai) (local.get $k))))
                (local.set $acc00 (f32x4.add (local.get $acc00) (f32x4.mul (local.get $y) (local.get $x0))))
                (local.set $acc01 (f32x4.add (local.get $acc01) (f32x4.mul (local.get $y) (local.get $x1))))
                (local.set $y (v128.load (i32.add (local.get $a1) (local.get $k))))
                (local.set $acc10 (f32x4.add (local.get $acc10) (f32x4.mul (local.get $y) (local.get $x0))))
                (local.set $acc11 (f32x4.add (local.get $acc11) (f32x4.mul (local.get $y) (local.get $x1))))
                (local.set $y (v128.load (i32.add (local.get $a2) (local.get $k))))
                (local.set $acc20 (f32x4.add (local.get $acc20) (f32x4.mul (local.get $y) (local.get $x0))))
                (local.set $acc21 (f32x4.add (local.get $acc21) (f32x4.mul (local.get $y) (local.get $x1))))
                (local.set $y (v128.load (i32.add (local.get $a3) (local.get $k))))
                (local.set $acc30 (f32x4.add (local.get $acc30) (f32x4.mul (local.get $y) (local.get $x0))))
                (local.set $acc31 (f32x4.add (local.get $acc31) (f32x4.mul (local.get $y) (local.get $x1))))
                (local.set $x0 (v128.load offset=16 (i32.add (local.get $bj) (local.get $k))))
                (local.set $x1 (v128.load offset=16 (i32.add (local.get $b1) (local.get $k))))
                (local.set $y (v128.load offset=16 (i32.add (local.get $ai) (local.get $k))))
                (local.set $acc00 (f32x4.add (local.get $acc00) (f32x4.mul (local.get $y) (local.get $x0))))
                (local.set $acc01 (f32x4.add (local.get $acc01) (f32x4.mul (local.get $y) (local.get $x1))))
                (local.set $y (v128.load offset=16 (i32.add (local.get $a1) (local.get $k))))
                (local.set $acc10 (f32x4.add (local.get $acc10) (f32x4.mul (local.get $y) (local.get $x0))))
                (local.set $acc11 (f32x4.add (local.get $acc11) (f32x4.mul (local.get $y) (local.get $x1))))
                (local.set $y (v128.load offset=16 (i32.add (local.get $a2) (local.get $k))))
                (local.set $acc20 (f32x4.add (local.get $acc20) (f32x4.mul (local.get $y) (local.get $x0))))
                (local.set $acc21 (f32x4.add (local.get $acc21) (f32x4.mul (local.get $y) (local.get $x1))))
                (local.set $y (v128.load offset=16 (i32.add (local.get $a3) (local.get $k))))
                (local.set $acc30 (f32x4.add (local.get $acc30) (f32x4.mul (local.get $y) (local.get $x0))))
                (local.set $acc31 (f32x4.add (local.get $acc31) (f32x4.mul (local.get $y) (local.get $x1))))
                (local.set $k (i32.add (local.get $k) (i32.const 32)))
                (br $L5)))
            (local.set $ng0 (f64.load (i32.add (local.get $ng) (i32.shl (local.get $cc) (i32.const 3)))))
            (local.set $tg0 (f64.load (i32.add (local.get $tg) (i32.shl (local.get $cc) (i32.const 3)))))
            (local.set $ng1 (f64.load offset=8 (i32.add (local.get $ng) (i32.shl (local.get $cc) (i32.const 3)))))
            (local.set $tg1 (f64.load offset=8 (i32.add (local.get $tg) (i32.shl (local.get $cc) (i32.const 3)))))
            (local.set $s
              (f64.sub
                (f64.add (local.get $nq0) (local.get $ng0))
                (f64.add
                  (local.tee $s
                    (f64.promote_f32
                      (f32x4.extract_lane 0
                        (f32x4.add
                          (local.tee $acc00
                            (f32x4.add
                              (local.get $acc00)
                              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
                                (local.get $acc00)
                                (local.get $acc00))))
                          (i8x16.shuffle 4 5 6 7 0 1 2 3 8 9 10 11 12 13 14 15 (local.get $acc00) (local.get $acc00))))))
                  (local.get $s))))
            (if $I6
              (local.tee $flags
                (i32.or
                  (f64.le (local.get $s) (local.get $tq0))
                  (i32.shl (f64.le (local.get $s) (local.get $tg0)) (i32.const 1))))
              (then
                (f64.store (i32.add (local.get $outS) (i32.shl (local.get $cnt) (i32.const 3))) (local.get $s))
                (i32.store
                  (i32.add (local.get $outC) (i32.shl (local.get $cnt) (i32.const 2)))
                  (i32.or
                    (i32.or
                      (i32.shl (local.get $flags) (i32.const 30))
                      (i32.shl (i32.add (local.get $rr) (i32.const 0)) (i32.const 15)))
                    (i32.add (local.get $cc) (i32.const 0))))
                (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
                (if $I7
                  (local.get $k1)
                  (then
                    (local.set $tq0
                      (f64.min
                        (local.get $tq0)
                        (f64.add
                          (local.get $s)
                          (f64.mul (local.get $epsUp) (f64.add (local.get $nq0) (local.get $ng0))))))))))
            (local.set $s
              (f64.sub
                (f64.add (local.get $nq0) (local.get $ng1))
                (f64.add
                  (local.tee $s
                    (f64.promote_f32
                      (f32x4.extract_lane 0
                        (f32x4.add
                          (local.tee $acc01
                            (f32x4.add
                              (local.get $acc01)
                              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
                                (local.get $acc01)
                                (local.get $acc01))))
                          (i8x16.shuffle 4 5 6 7 0 1 2 3 8 9 10 11 12 13 14 15 (local.get $acc01) (local.get $acc01))))))
                  (local.get $s))))
            (if $I8
              (local.tee $flags
                (i32.or
                  (f64.le (local.get $s) (local.get $tq0))
                  (i32.shl (f64.le (local.get $s) (local.get $tg1)) (i32.const 1))))
              (then
                (f64.store (i32.add (local.get $outS) (i32.shl (local.get $cnt) (i32.const 3))) (local.get $s))
                (i32.store
                  (i32.add (local.get $outC) (i32.shl (local.get $cnt) (i32.const 2)))
                  (i32.or
                    (i32.or
                      (i32.shl (local.get $flags) (i32.const 30))
                      (i32.shl (i32.add (local.get $rr) (i32.const 0)) (i32.const 15)))
                    (i32.add (local.get $cc) (i32.const 1))))
                (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
                (if $I9
                  (local.get $k1)
                  (then
                    (local.set $tq0
                      (f64.min
                        (local.get $tq0)
                        (f64.add
                          (local.get $s)
                          (f64.mul (local.get $epsUp) (f64.add (local.get $nq0) (local.get $ng1))))))))))
            (local.set $s
              (f64.sub
                (f64.add (local.get $nq1) (local.get $ng0))
                (f64.add
                  (local.tee $s
                    (f64.promote_f32
                      (f32x4.extract_lane 0
                        (f32x4.add
                          (local.tee $acc10
                            (f32x4.add
                              (local.get $acc10)
                              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
                                (local.get $acc10)
                                (local.get $acc10))))
                          (i8x16.shuffle 4 5 6 7 0 1 2 3 8 9 10 11 12 13 14 15 (local.get $acc10) (local.get $acc10))))))
                  (local.get $s))))
            (if $I10
              (local.tee $flags
                (i32.or
                  (f64.le (local.get $s) (local.get $tq1))
                  (i32.shl (f64.le (local.get $s) (local.get $tg0)) (i32.const 1))))
              (then
                (f64.store (i32.add (local.get $outS) (i32.shl (local.get $cnt) (i32.const 3))) (local.get $s))
                (i32.store
                  (i32.add (local.get $outC) (i32.shl (local.get $cnt) (i32.const 2)))
                  (i32.or
                    (i32.or
                      (i32.shl (local.get $flags) (i32.const 30))
                      (i32.shl (i32.add (local.get $rr) (i32.const 1)) (i32.const 15)))
                    (i32.add (local.get $cc) (i32.const 0))))
                (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
                (if $I11
                  (local.get $k1)
                  (then
                    (local.set $tq1
                      (f64.min
                        (local.get $tq1)
                        (f64.add
                          (local.get $s)
                          (f64.mul (local.get $epsUp) (f64.add (local.get $nq1) (local.get $ng0))))))))))
            (local.set $s
              (f64.sub
                (f64.add (local.get $nq1) (local.get $ng1))
                (f64.add
                  (local.tee $s
                    (f64.promote_f32
                      (f32x4.extract_lane 0
                        (f32x4.add
                          (local.tee $acc11
                            (f32x4.add
                              (local.get $acc11)
                              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
                                (local.get $acc11)
                                (local.get $acc11))))
                          (i8x16.shuffle 4 5 6 7 0 1 2 3 8 9 10 11 12 13 14 15 (local.get $acc11) (local.get $acc11))))))
                  (local.get $s))))
            (if $I12
              (local.tee $flags
                (i32.or
                  (f64.le (local.get $s) (local.get $tq1))
                  (i32.shl (f64.le (local.get $s) (local.get $tg1)) (i32.const 1))))
              (then
                (f64.store (i32.add (local.get $outS) (i32.shl (local.get $cnt) (i32.const 3))) (local.get $s))
                (i32.store
                  (i32.add (local.get $outC) (i32.shl (local.get $cnt) (i32.const 2)))
                  (i32.or
                    (i32.or
                      (i32.shl (local.get $flags) (i32.const 30))
                      (i32.shl (i32.add (local.get $rr) (i32.const 1)) (i32.const 15)))
                    (i32.add (local.get $cc) (i32.const 1))))
                (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
                (if $I13
                  (local.get $k1)
                  (then
                    (local.set $tq1
                      (f64.min
                        (local.get $tq1)
                        (f64.add
                          (local.get $s)
                          (f64.mul (local.get $epsUp) (f64.add (local.get $nq1) (local.get $ng1))))))))))
            (local.set $s
              (f64.sub
                (f64.add (local.get $nq2) (local.get $ng0))
                (f64.add
                  (local.tee $s
                    (f64.promote_f32
                      (f32x4.extract_lane 0
                        (f32x4.add
                          (local.tee $acc20
                            (f32x4.add
                              (local.get $acc20)
                              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
                                (local.get $acc20)
                                (local.get $acc20))))
                          (i8x16.shuffle 4 5 6 7 0 1 2 3 8 9 10 11 12 13 14 15 (local.get $acc20) (local.get $acc20))))))
                  (local.get $s))))
            (if $I14
              (local.tee $flags
                (i32.or
                  (f64.le (local.get $s) (local.get $tq2))
                  (i32.shl (f64.le (local.get $s) (local.get $tg0)) (i32.const 1))))
              (then
                (f64.store (i32.add (local.get $outS) (i32.shl (local.get $cnt) (i32.const 3))) (local.get $s))
                (i32.store
                  (i32.add (local.get $outC) (i32.shl (local.get $cnt) (i32.const 2)))
                  (i32.or
                    (i32.or
                      (i32.shl (local.get $flags) (i32.const 30))
                      (i32.shl (i32.add (local.get $rr) (i32.const 2)) (i32.const 15)))
                    (i32.add (local.get $cc) (i32.const 0))))
                (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
                (if $I15
                  (local.get $k1)
                  (then
                    (local.set $tq2
                      (f64.min
                        (local.get $tq2)
                        (f64.add
                          (local.get $s)
                          (f64.mul (local.get $epsUp) (f64.add (local.get $nq2) (local.get $ng0))))))))))
            (local.set $s
              (f64.sub
                (f64.add (local.get $nq2) (local.get $ng1))
                (f64.add
                  (local.tee $s
                    (f64.promote_f32
                      (f32x4.extract_lane 0
                        (f32x4.add
                          (local.tee $acc21
                            (f32x4.add
                              (local.get $acc21)
                              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
                                (local.get $acc21)
                                (local.get $acc21))))
                          (i8x16.shuffle 4 5 6 7 0 1 2 3 8 9 10 11 12 13 14 15 (local.get $acc21) (local.get $acc21))))))
                  (local.get $s))))
            (if $I16
              (local.tee $flags
                (i32.or
                  (f64.le (local.get $s) (local.get $tq2))
                  (i32.shl (f64.le (local.get $s) (local.get $tg1)) (i32.const 1))))
              (then
                (f64.store (i32.add (local.get $outS) (i32.shl (local.get $cnt) (i32.const 3))) (local.get $s))
                (i32.store
                  (i32.add (local.get $outC) (i32.shl (local.get $cnt) (i32.const 2)))
                  (i32.or
                    (i32.or
                      (i32.shl (local.get $flags) (i32.const 30))
                      (i32.shl (i32.add (local.get $rr) (i32.const 2)) (i32.const 15)))
                    (i32.add (local.get $cc) (i32.const 1))))
                (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
                (if $I17
                  (local.get $k1)
                  (then
                    (local.set $tq2
                      (f64.min
                        (local.get $tq2)
                        (f64.add
                          (local.get $s)
                          (f64.mul (local.get $epsUp) (f64.add (local.get $nq2) (local.get $ng1))))))))))
            (local.set $s
              (f64.sub
                (f64.add (local.get $nq3) (local.get $ng0))
                (f64.add
                  (local.tee $s
                    (f64.promote_f32
                      (f32x4.extract_lane 0
                        (f32x4.add
                          (local.tee $acc30
                            (f32x4.add
                              (local.get $acc30)
                              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
                                (local.get $acc30)
                                (local.get $acc30))))
                          (i8x16.shuffle 4 5 6 7 0 1 2 3 8 9 10 11 12 13 14 15 (local.get $acc30) (local.get $acc30))))))
                  (local.get $s))))
            (if $I18
              (local.tee $flags
                (i32.or
                  (f64.le (local.get $s) (local.get $tq3))
                  (i32.shl (f64.le (local.get $s) (local.get $tg0)) (i32.const 1))))
              (then
                (f64.store (i32.add (local.get $outS) (i32.shl (local.get $cnt) (i32.const 3))) (local.get $s))
                (i32.store
                  (i32.add (local.get $outC) (i32.shl (local.get $cnt) (i32.const 2)))
                  (i32.or
                    (i32.or
                      (i32.shl (local.get $flags) (i32.const 30))
                      (i32.shl (i32.add (local.get $rr) (i32.const 3)) (i32.const 15)))
                    (i32.add (local.get $cc) (i32.const 0))))
                (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
                (if $I19
                  (local.get $k1)
                  (then
                    (local.set $tq3
                      (f64.min
                        (local.get $tq3)
                        (f64.add
                          (local.get $s)
                          (f64.mul (local.get $epsUp) (f64.add (local.get $nq3) (local.get $ng0))))))))))
            (local.set $s
              (f64.sub
                (f64.add (local.get $nq3) (local.get $ng1))
                (f64.add
                  (local.tee $s
                    (f64.promote_f32
                      (f32x4.extract_lane 0
                        (f32x4.add
                          (local.tee $acc31
                            (f32x4.add
                              (local.get $acc31)
                              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
                                (local.get $acc31)
                                (local.get $acc31))))
                          (i8x16.shuffle 4 5 6 7 0 1 2 3 8 9 10 11 12 13 14 15 (local.get $acc31) (local.get $acc31))))))
                  (local.get $s))))
            (if $I20
              (local.tee $flags
                (i32.or
                  (f64.le (local.get $s) (local.get $tq3))
                  (i32.shl (f64.le (local.get $s) (local.get $tg1)) (i32.const 1))))
              (then
                (f64.store (i32.add (local.get $outS) (i32.shl (local.get $cnt) (i32.const 3))) (local.get $s))
                (i32.store
                  (i32.add (local.get $outC) (i32.shl (local.get $cnt) (i32.const 2)))
                  (i32.or
                    (i32.or
                      (i32.shl (local.get $flags) (i32.const 30))
                      (i32.shl (i32.add (local.get $rr) (i32.const 3)) (i32.const 15)))
                    (i32.add (local.get $cc) (i32.const 1))))
                (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
                (if $I21
                  (local.get $k1)
                  (then
                    (local.set $tq3
                      (f64.min
                        (local.get $tq3)
                        (f64.add
                          (local.get $s)
                          (f64.mul (local.get $epsUp) (f64.add (local.get $nq3) (local.get $ng1))))))))))
            (local.set $bj (i32.add (local.get $bj) (i32.add (local.get $rowBytes) (local.get $rowBytes))))
            (local.set $cc (i32.add (local.get $cc) (i32.const 2)))
            (br $L3)))
        (local.set $ai (i32.add (local.get $a3) (local.get $rowBytes)))
        (local.set $rr (i32.add (local.get $rr) (i32.const 4)))
        (br $L1)))
    (local.get $cnt))
  (export "scan64" (func $scan64))
  (export "norms" (func $norms))
  (export "scan32" (func $scan32))
  (export "exact" (func $exact))
  (export "scan32f" (func $scan32f)))
