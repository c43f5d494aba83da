;; Kernels that tfjs' WebAssembly backend lacks or runs slowly, working in place
;; on that backend's own memory: every pointer is a byte offset into its heap,
;; every array float32. scripts/build-wasm-kernels.mjs compiles this file (twice:
;; for the threaded build's shared memory and the plain build's) into binary.ts.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; One Adam update of `count` weights, written to new arrays (tfjs caches
  ;; prepared weights by array, so a weight array must never change in place):
  ;;   m' = beta1 m + (1 - beta1) g         v' = beta2 v + (1 - beta2) g^2
  ;;   w' = w - rate (m' / c1) / (sqrt(v' / c2) + epsilon)
  ;; with c1, c2 the bias corrections 1 - beta^t, in the order of operations of
  ;; tfjs' own Adam, four weights at a time.
  (func (export "adam")
    (param $w i32) (param $m i32) (param $v i32) (param $g i32)
    (param $wOut i32) (param $mOut i32) (param $vOut i32) (param $count i32)
    (param $beta1 f32) (param $oneMinusBeta1 f32) (param $beta2 f32) (param $oneMinusBeta2 f32)
    (param $c1 f32) (param $c2 f32) (param $negativeRate f32) (param $epsilon f32)
    (local $at i32) (local $vectorEnd i32) (local $end i32)
    (local $b1 v128) (local $a1 v128) (local $b2 v128) (local $a2 v128)
    (local $c1v v128) (local $c2v v128) (local $rate v128) (local $eps v128)
    (local $gv v128) (local $mv v128) (local $vv v128)
    (local $gs f32) (local $ms f32) (local $vs f32)
    (local.set $b1 (f32x4.splat (local.get $beta1)))
    (local.set $a1 (f32x4.splat (local.get $oneMinusBeta1)))
    (local.set $b2 (f32x4.splat (local.get $beta2)))
    (local.set $a2 (f32x4.splat (local.get $oneMinusBeta2)))
    (local.set $c1v (f32x4.splat (local.get $c1)))
    (local.set $c2v (f32x4.splat (local.get $c2)))
    (local.set $rate (f32x4.splat (local.get $negativeRate)))
    (local.set $eps (f32x4.splat (local.get $epsilon)))
    ;; byte offsets: $at walks all arrays together
    (local.set $end (i32.shl (local.get $count) (i32.const 2)))
    (local.set $vectorEnd (i32.and (local.get $end) (i32.const -16)))
    (block $vectorsDone
      (loop $vectors
        (br_if $vectorsDone (i32.ge_u (local.get $at) (local.get $vectorEnd)))
        (local.set $gv (v128.load (i32.add (local.get $g) (local.get $at))))
        (local.set $mv
          (f32x4.add
            (f32x4.mul (v128.load (i32.add (local.get $m) (local.get $at))) (local.get $b1))
            (f32x4.mul (local.get $gv) (local.get $a1))))
        (local.set $vv
          (f32x4.add
            (f32x4.mul (v128.load (i32.add (local.get $v) (local.get $at))) (local.get $b2))
            (f32x4.mul (f32x4.mul (local.get $gv) (local.get $gv)) (local.get $a2))))
        (v128.store (i32.add (local.get $mOut) (local.get $at)) (local.get $mv))
        (v128.store (i32.add (local.get $vOut) (local.get $at)) (local.get $vv))
        (v128.store (i32.add (local.get $wOut) (local.get $at))
          (f32x4.add
            (f32x4.mul
              (f32x4.div
                (f32x4.div (local.get $mv) (local.get $c1v))
                (f32x4.add (f32x4.sqrt (f32x4.div (local.get $vv) (local.get $c2v))) (local.get $eps)))
              (local.get $rate))
            (v128.load (i32.add (local.get $w) (local.get $at)))))
        (local.set $at (i32.add (local.get $at) (i32.const 16)))
        (br $vectors)))
    ;; the last count % 4 weights, one at a time
    (block $done
      (loop $scalars
        (br_if $done (i32.ge_u (local.get $at) (local.get $end)))
        (local.set $gs (f32.load (i32.add (local.get $g) (local.get $at))))
        (local.set $ms
          (f32.add
            (f32.mul (f32.load (i32.add (local.get $m) (local.get $at))) (local.get $beta1))
            (f32.mul (local.get $gs) (local.get $oneMinusBeta1))))
        (local.set $vs
          (f32.add
            (f32.mul (f32.load (i32.add (local.get $v) (local.get $at))) (local.get $beta2))
            (f32.mul (f32.mul (local.get $gs) (local.get $gs)) (local.get $oneMinusBeta2))))
        (f32.store (i32.add (local.get $mOut) (local.get $at)) (local.get $ms))
        (f32.store (i32.add (local.get $vOut) (local.get $at)) (local.get $vs))
        (f32.store (i32.add (local.get $wOut) (local.get $at))
          (f32.add
            (f32.mul
              (f32.div
                (f32.div (local.get $ms) (local.get $c1))
                (f32.add (f32.sqrt (f32.div (local.get $vs) (local.get $c2))) (local.get $epsilon)))
              (local.get $negativeRate))
            (f32.load (i32.add (local.get $w) (local.get $at)))))
        (local.set $at (i32.add (local.get $at) (i32.const 4)))
        (br $scalars))))

;; Copies `count` rows of `rowBytes` bytes, the rows `srcStride` bytes apart
  ;; in `src` and `dstStride` apart in `dst`: one call for what slicing,
  ;; splitting, concatenating and padding would otherwise copy row by row from
  ;; JavaScript, each row a separate call.
  (func (export "copyRows")
    (param $src i32) (param $dst i32) (param $count i32)
    (param $rowBytes i32) (param $srcStride i32) (param $dstStride i32)
    (block $done
      (loop $rows
        (br_if $done (i32.eqz (local.get $count)))
        (memory.copy (local.get $dst) (local.get $src) (local.get $rowBytes))
        (local.set $src (i32.add (local.get $src) (local.get $srcStride)))
        (local.set $dst (i32.add (local.get $dst) (local.get $dstStride)))
        (local.set $count (i32.sub (local.get $count) (i32.const 1)))
        (br $rows))))

  ;; Sets `count` numbers of 4 bytes at `dst` to the bits of `value` (zero:
  ;; a plain memset).
  (func (export "fill") (param $dst i32) (param $count i32) (param $value i32)
    (local $end i32) (local $vectorEnd i32) (local $splat v128)
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $count) (i32.const 2))))
    (if (i32.eqz (local.get $value))
      (then
        (memory.fill (local.get $dst) (i32.const 0) (i32.shl (local.get $count) (i32.const 2)))
        (return)))
    (local.set $splat (i32x4.splat (local.get $value)))
    (local.set $vectorEnd (i32.sub (local.get $end) (i32.const 15)))
    (block $vectorsDone
      (loop $vectors
        (br_if $vectorsDone (i32.ge_u (local.get $dst) (local.get $vectorEnd)))
        (v128.store (local.get $dst) (local.get $splat))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (br $vectors)))
    (block $done
      (loop $scalars
        (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
        (i32.store (local.get $dst) (local.get $value))
        (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
        (br $scalars))))

  ;; Sums the rows of `src`, a rows x cols matrix, into `dst` (cols numbers):
  ;; a bias's gradient, the sum over every axis but the channels. Rows are added
  ;; in order, as tfjs' own Sum adds them, four columns at a time.
  (func (export "sumRows")
    (param $src i32) (param $dst i32) (param $rows i32) (param $cols i32)
    (local $rowBytes i32) (local $vectorBytes i32) (local $at i32) (local $end i32) (local $from i32)
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $vectorBytes (i32.and (local.get $rowBytes) (i32.const -16)))
    (memory.fill (local.get $dst) (i32.const 0) (local.get $rowBytes))
    (local.set $from (local.get $src))
    (local.set $end (i32.add (local.get $src) (i32.mul (local.get $rows) (local.get $rowBytes))))
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $from) (local.get $end)))
        (local.set $at (i32.const 0))
        (block $vectorsDone
          (loop $vectors
            (br_if $vectorsDone (i32.ge_u (local.get $at) (local.get $vectorBytes)))
            (v128.store (i32.add (local.get $dst) (local.get $at))
              (f32x4.add
                (v128.load (i32.add (local.get $dst) (local.get $at)))
                (v128.load (i32.add (local.get $from) (local.get $at)))))
            (local.set $at (i32.add (local.get $at) (i32.const 16)))
            (br $vectors)))
        (block $scalarsDone
          (loop $scalars
            (br_if $scalarsDone (i32.ge_u (local.get $at) (local.get $rowBytes)))
            (f32.store (i32.add (local.get $dst) (local.get $at))
              (f32.add
                (f32.load (i32.add (local.get $dst) (local.get $at)))
                (f32.load (i32.add (local.get $from) (local.get $at)))))
            (local.set $at (i32.add (local.get $at) (i32.const 4)))
            (br $scalars)))
        (local.set $from (i32.add (local.get $from) (local.get $rowBytes)))
        (br $rowLoop))))

  ;; Transposes `src`, viewed as [outer, rows, middle, cols, inner], into
  ;; `dst` as [outer, cols, middle, rows, inner]: any permutation that swaps two
  ;; runs of axes around a fixed middle, moving blocks of `inner` numbers.
  (func (export "transpose")
    (param $src i32) (param $dst i32)
    (param $outer i32) (param $rows i32) (param $middle i32) (param $cols i32) (param $inner i32)
    (local $block i32) (local $o i32) (local $mid i32)
    (local $srcRowStride i32) (local $dstRowStride i32)
    (local $srcBase i32) (local $dstBase i32)
    ;; byte strides: one block, the next source row (next r), the next destination row (next c)
    (local.set $block (i32.shl (local.get $inner) (i32.const 2)))
    (local.set $srcRowStride (i32.mul (i32.mul (local.get $middle) (local.get $cols)) (local.get $block)))
    (local.set $dstRowStride (i32.mul (i32.mul (local.get $middle) (local.get $rows)) (local.get $block)))
    (block $outerDone
      (loop $outerLoop
        (br_if $outerDone (i32.ge_u (local.get $o) (local.get $outer)))
        (local.set $mid (i32.const 0))
        (block $middleDone
          (loop $middleLoop
            (br_if $middleDone (i32.ge_u (local.get $mid) (local.get $middle)))
            ;; src[o][0][mid][0] and dst[o][0][mid][0]
            (local.set $srcBase
              (i32.add (local.get $src)
                (i32.add
                  (i32.mul (local.get $o) (i32.mul (local.get $rows) (local.get $srcRowStride)))
                  (i32.mul (local.get $mid) (i32.mul (local.get $cols) (local.get $block))))))
            (local.set $dstBase
              (i32.add (local.get $dst)
                (i32.add
                  (i32.mul (local.get $o) (i32.mul (local.get $cols) (local.get $dstRowStride)))
                  (i32.mul (local.get $mid) (i32.mul (local.get $rows) (local.get $block))))))
            (if (i32.eq (local.get $inner) (i32.const 1))
              (then
                (call $transposeMatrix (local.get $srcBase) (local.get $dstBase)
                  (local.get $rows) (local.get $cols) (local.get $srcRowStride) (local.get $dstRowStride)))
              (else
                (call $moveBlocks (local.get $srcBase) (local.get $dstBase)
                  (local.get $rows) (local.get $cols) (local.get $srcRowStride) (local.get $dstRowStride)
                  (local.get $block))))
            (local.set $mid (i32.add (local.get $mid) (i32.const 1)))
            (br $middleLoop)))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $outerLoop))))

  ;; One rows x cols matrix of numbers, in tiles of 16 x 64: reads
  ;; and writes both stay within a few cache lines (a plain loop over a large
  ;; matrix touches a new line with every number). Within a tile, 4 x 4 squares
  ;; move as four vectors each way; the edges number by number.
  (func $transposeMatrix
    (param $src i32) (param $dst i32) (param $rows i32) (param $cols i32)
    (param $srcRowStride i32) (param $dstRowStride i32)
    (local $r0 i32) (local $c0 i32) (local $rEnd i32) (local $cEnd i32)
    (local $rSquares i32) (local $cSquares i32)
    (local.set $r0 (i32.const 0))
    (block $tileRowsDone
      (loop $tileRows
        (br_if $tileRowsDone (i32.ge_u (local.get $r0) (local.get $rows)))
        (local.set $rEnd (i32.add (local.get $r0) (i32.const 16)))
        (if (i32.gt_u (local.get $rEnd) (local.get $rows)) (then (local.set $rEnd (local.get $rows))))
        (local.set $rSquares
          (i32.add (local.get $r0) (i32.and (i32.sub (local.get $rEnd) (local.get $r0)) (i32.const -4))))
        (local.set $c0 (i32.const 0))
        (block $tileColsDone
          (loop $tileCols
            (br_if $tileColsDone (i32.ge_u (local.get $c0) (local.get $cols)))
            (local.set $cEnd (i32.add (local.get $c0) (i32.const 64)))
            (if (i32.gt_u (local.get $cEnd) (local.get $cols)) (then (local.set $cEnd (local.get $cols))))
            (local.set $cSquares
              (i32.add (local.get $c0) (i32.and (i32.sub (local.get $cEnd) (local.get $c0)) (i32.const -4))))
            (call $squares (local.get $src) (local.get $dst) (local.get $r0) (local.get $rSquares)
              (local.get $c0) (local.get $cSquares) (local.get $srcRowStride) (local.get $dstRowStride))
            ;; the edges: columns past the last square, then rows past it
            (call $numbers (local.get $src) (local.get $dst) (local.get $r0) (local.get $rSquares)
              (local.get $cSquares) (local.get $cEnd) (local.get $srcRowStride) (local.get $dstRowStride))
            (call $numbers (local.get $src) (local.get $dst) (local.get $rSquares) (local.get $rEnd)
              (local.get $c0) (local.get $cEnd) (local.get $srcRowStride) (local.get $dstRowStride))
            (local.set $c0 (local.get $cEnd))
            (br $tileCols)))
        (local.set $r0 (local.get $rEnd))
        (br $tileRows))))

  ;; Rows r0..r1 and columns c0..c1 (multiples of 4 apart) in 4 x 4 squares.
  (func $squares
    (param $src i32) (param $dst i32) (param $r0 i32) (param $r1 i32) (param $c0 i32) (param $c1 i32)
    (param $srcRowStride i32) (param $dstRowStride i32)
    (local $r i32) (local $c i32) (local $from i32) (local $to i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $c (local.get $c0))
    (block $colsDone
      (loop $colLoop
        (br_if $colsDone (i32.ge_u (local.get $c) (local.get $c1)))
        (local.set $r (local.get $r0))
        (block $rowsDone
          (loop $rowLoop
            (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $r1)))
            (local.set $from
              (i32.add (local.get $src)
                (i32.add (i32.mul (local.get $r) (local.get $srcRowStride)) (i32.shl (local.get $c) (i32.const 2)))))
            (local.set $to
              (i32.add (local.get $dst)
                (i32.add (i32.mul (local.get $c) (local.get $dstRowStride)) (i32.shl (local.get $r) (i32.const 2)))))
            (local.set $a0 (v128.load (local.get $from)))
            (local.set $a1 (v128.load (i32.add (local.get $from) (local.get $srcRowStride))))
            (local.set $a2 (v128.load (i32.add (local.get $from) (i32.shl (local.get $srcRowStride) (i32.const 1)))))
            (local.set $a3 (v128.load (i32.add (local.get $from) (i32.mul (local.get $srcRowStride) (i32.const 3)))))
            ;; t0 = a0[0] a1[0] a0[1] a1[1], t1 = a0[2] a1[2] a0[3] a1[3]; t2, t3 likewise of a2, a3
            (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a0) (local.get $a1)))
            (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a0) (local.get $a1)))
            (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a2) (local.get $a3)))
            (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a2) (local.get $a3)))
            ;; column k of the square: a0[k] a1[k] a2[k] a3[k]
            (v128.store (local.get $to)
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
            (v128.store (i32.add (local.get $to) (local.get $dstRowStride))
              (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
            (v128.store (i32.add (local.get $to) (i32.shl (local.get $dstRowStride) (i32.const 1)))
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
            (v128.store (i32.add (local.get $to) (i32.mul (local.get $dstRowStride) (i32.const 3)))
              (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
            (local.set $r (i32.add (local.get $r) (i32.const 4)))
            (br $rowLoop)))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $colLoop))))

  ;; Rows r0..r1 and columns c0..c1, number by number.
  (func $numbers
    (param $src i32) (param $dst i32) (param $r0 i32) (param $r1 i32) (param $c0 i32) (param $c1 i32)
    (param $srcRowStride i32) (param $dstRowStride i32)
    (local $r i32) (local $c i32)
    (local.set $r (local.get $r0))
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $r1)))
        (local.set $c (local.get $c0))
        (block $colsDone
          (loop $colLoop
            (br_if $colsDone (i32.ge_u (local.get $c) (local.get $c1)))
            (f32.store
              (i32.add (local.get $dst)
                (i32.add (i32.mul (local.get $c) (local.get $dstRowStride)) (i32.shl (local.get $r) (i32.const 2))))
              (f32.load
                (i32.add (local.get $src)
                  (i32.add (i32.mul (local.get $r) (local.get $srcRowStride)) (i32.shl (local.get $c) (i32.const 2))))))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $colLoop)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowLoop))))

  ;; Blocks of `block` bytes: source block (r, c) to destination block (c, r), in source order.
  (func $moveBlocks
    (param $src i32) (param $dst i32) (param $rows i32) (param $cols i32)
    (param $srcRowStride i32) (param $dstRowStride i32) (param $block i32)
    (local $r i32) (local $c i32) (local $from i32)
    (local.set $r (i32.const 0))
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $from (i32.add (local.get $src) (i32.mul (local.get $r) (local.get $srcRowStride))))
        (local.set $c (i32.const 0))
        (block $colsDone
          (loop $colLoop
            (br_if $colsDone (i32.ge_u (local.get $c) (local.get $cols)))
            (memory.copy
              (i32.add (local.get $dst)
                (i32.add (i32.mul (local.get $c) (local.get $dstRowStride)) (i32.mul (local.get $r) (local.get $block))))
              (local.get $from)
              (local.get $block))
            (local.set $from (i32.add (local.get $from) (local.get $block)))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $colLoop)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowLoop))))
)
