fn main() {
    println!("portico");
}
