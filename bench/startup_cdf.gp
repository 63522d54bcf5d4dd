# Latency CDFs of `tools/bench startup` (one block per mode, in the order
# the benchmark writes them).  gnuplot -e "data='F.dat'; out='F.png'; subtitle='...'" startup_cdf.gp
set terminal pngcairo size 1000,620 font "sans,11"
set output out
set title "Container start latency with crun (create + start until the first write to the volume)\n{/*0.8 ".subtitle."}"
set xlabel "milliseconds (log scale)"
set ylabel "fraction of containers started"
set logscale x
set yrange [0:1.02]
set grid
set key bottom right
titles = "'no volume' 'warmblock, warm stock' 'warmblock, cold (empty stock)' 'naive: dmsetup thin + mkfs.ext4 + mount' 'naive: loop file + mkfs.ext4 + mount'"
plot for [i=0:4] data index i using 1:2 with steps linewidth 2 title word(titles, i+1)
